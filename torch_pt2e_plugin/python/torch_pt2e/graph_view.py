"""An FX-like view of a TorchScript forward graph, for quantizers written in Python.

Upstream quantizers walk `model.graph.nodes` of an FX GraphModule and read
`node.op`, `node.target`, `node.args`, `node.users`, `node.meta`. This view
gives the same vocabulary over the canonical TorchScript graph (see
passes/canonicalize.h), so a quantizer's logic carries over unchanged:

* graph inputs are "placeholder" nodes; parameters and buffers (chains of
  prim::GetAttr) are "get_attr" nodes whose target is the dotted attribute
  path; operators are "call_function" nodes whose target is the OpOverload
  (`torch.ops.aten.conv2d.default`); calls of observer submodules are
  "call_module"; the graph's return is "output";
* constants appear as Python values in `args`, lists (prim::ListConstruct,
  e.g. the inputs of aten::cat) as Python lists of nodes, keyword-only
  schema arguments in `kwargs`; outputs of multi-output nodes are
  `operator.getitem` nodes;
* `meta["val"]` is a meta tensor when the TorchScript type knows the dtype
  (traced models, or prepare_pt2e(..., example_inputs=...)), and
  `meta["nn_module_stack"]` maps module paths to (path, type name).

Annotations written to `node.meta["quantization_annotation"]` are collected
by `annotations_to_json` and handed to the C++ flow.
"""

import json
import operator
from typing import Any, Dict, List, Optional

import torch

_HIDDEN_KINDS = {"prim::Constant", "prim::ListConstruct", "prim::TupleConstruct"}


def _op_overload(ts_node):
    """torch.ops.<ns>.<name>.<overload> for a node with a schema, else None."""
    try:
        schema_text = ts_node.schema()
    except RuntimeError:
        return None, None
    if not schema_text or schema_text == "(no schema)":
        return None, None
    schema = torch._C.parse_schema(schema_text)
    qualified = schema.name
    namespace, _, name = qualified.partition("::")
    overload = schema.overload_name or "default"
    try:
        packet = getattr(getattr(torch.ops, namespace), name)
        return getattr(packet, overload), schema
    except (AttributeError, RuntimeError):
        return None, schema


class Node:
    """One node of the view (see the module docstring)."""

    def __init__(self, graph: "Graph", op: str, name: str, target: Any, ts_node=None, value=None, index=None):
        self.graph = graph
        self.op = op
        self.name = name
        self.target = target
        self.args: tuple = ()
        self.kwargs: Dict[str, Any] = {}
        self.users: Dict["Node", None] = {}
        self.meta: Dict[str, Any] = {}
        # The TorchScript node (None for placeholders) and the value this node stands for.
        self.ts_node = ts_node
        self.ts_value = value
        # Position among the graph's top-level nodes (None for placeholders).
        self.ts_index = index

    def __repr__(self):
        return self.name

    @property
    def all_input_nodes(self) -> List["Node"]:
        found: List[Node] = []

        def visit(arg):
            if isinstance(arg, Node) and arg not in found:
                found.append(arg)
            elif isinstance(arg, (list, tuple)):
                for item in arg:
                    visit(item)

        visit(self.args)
        visit(tuple(self.kwargs.values()))
        return found

    def format_node(self) -> str:
        return f"{self.name} = {self.op}[target={self.target}](args={self.args}, kwargs={self.kwargs})"


class Graph:
    """The nodes of a TorchScript forward graph, FX style."""

    def __init__(self, module):
        self.module = module
        self.ts_graph = module.graph
        self._nodes: List[Node] = []
        self._by_value: Dict[Any, Node] = {}
        self._by_ts_node: Dict[Any, Node] = {}
        self._build()

    @property
    def nodes(self) -> List[Node]:
        return list(self._nodes)

    def find_nodes(self, *, op: str, target: Any = None) -> List[Node]:
        return [n for n in self._nodes if n.op == op and (target is None or n.target == target)]

    def node_for_value(self, value) -> Optional[Node]:
        return self._by_value.get(value)

    # ---- construction ---------------------------------------------------------

    def _add(self, node: Node) -> Node:
        self._nodes.append(node)
        if node.ts_value is not None:
            self._by_value[node.ts_value] = node
        return node

    def _attribute_path(self, value) -> Optional[List[str]]:
        names = []
        while value.node().kind() == "prim::GetAttr":
            names.append(value.node().s("name"))
            value = value.node().input()
        if value is not self._self_value:
            return None
        return list(reversed(names))

    def _map_value(self, value):
        node = self._by_value.get(value)
        if node is not None:
            return node
        producer = value.node()
        kind = producer.kind()
        if kind == "prim::Constant":
            return value.toIValue()
        if kind == "prim::ListConstruct":
            return [self._map_value(v) for v in producer.inputs()]
        if kind == "prim::TupleConstruct":
            return tuple(self._map_value(v) for v in producer.inputs())
        return value  # module objects and other values quantizers do not need

    def _build(self):
        ts_inputs = list(self.ts_graph.inputs())
        self._self_value = ts_inputs[0] if ts_inputs else None
        for value in ts_inputs[1:]:
            self._add(Node(self, "placeholder", value.debugName(), value.debugName(), value=value))
        for index, ts_node in enumerate(self.ts_graph.nodes()):
            kind = ts_node.kind()
            if kind in _HIDDEN_KINDS:
                continue
            if kind == "prim::GetAttr":
                output = ts_node.output()
                if isinstance(output.type(), torch._C.TensorType) or output.type().kind() == "OptionalType":
                    path = self._attribute_path(output)
                    if path is not None:
                        node = Node(self, "get_attr", output.debugName(), ".".join(path), ts_node, output, index)
                        self._by_ts_node[ts_node] = self._add(node)
                continue
            if kind == "prim::unchecked_cast" and ts_node.inputsAt(0) in self._by_value:
                # An Optional[Tensor] attribute read as Tensor (canonicalize.h): the
                # attribute node stands for the cast value, which consumers read.
                node = self._by_value[ts_node.inputsAt(0)]
                node.ts_value = ts_node.output()
                self._by_value[node.ts_value] = node
                continue
            if kind == "prim::CallMethod":
                path = self._attribute_path(ts_node.inputsAt(0))
                target = ".".join(path) if path else ts_node.s("name")
                node = Node(self, "call_module", ts_node.output().debugName(), target, ts_node, ts_node.output(), index)
                node.args = tuple(self._map_value(v) for v in list(ts_node.inputs())[1:])
                self._by_ts_node[ts_node] = self._add(node)
                continue
            target, schema = _op_overload(ts_node)
            outputs = list(ts_node.outputs())
            main_value = outputs[0] if len(outputs) == 1 else None
            name = outputs[0].debugName() if outputs else kind.replace("::", "_")
            node = Node(self, "call_function", name, target if target is not None else kind, ts_node, main_value,
                        index)
            inputs = list(ts_node.inputs())
            if schema is not None and len(schema.arguments) == len(inputs):
                args, kwargs = [], {}
                for argument, value in zip(schema.arguments, inputs):
                    if argument.kwarg_only:
                        kwargs[argument.name] = self._map_value(value)
                    else:
                        args.append(self._map_value(value))
                node.args, node.kwargs = tuple(args), kwargs
            else:
                node.args = tuple(self._map_value(v) for v in inputs)
            self._by_ts_node[ts_node] = self._add(node)
            if len(outputs) > 1:
                for i, output in enumerate(outputs):
                    item = Node(self, "call_function", output.debugName(), operator.getitem, ts_node, output, index)
                    item.args = (node, i)
                    self._add(item)
        ret = self.ts_graph.return_node()
        output = Node(self, "output", "output", "output", ret)
        output.args = tuple(self._map_value(v) for v in ret.inputs())
        self._add(output)
        for node in self._nodes:
            for producer in node.all_input_nodes:
                producer.users[node] = None
            if node.ts_value is not None:
                self._set_val(node)

    def _set_val(self, node: Node):
        value_type = node.ts_value.type()
        if not isinstance(value_type, torch._C.TensorType):
            return
        dtype = value_type.dtype()
        if dtype is None:
            return
        sizes = value_type.sizes()
        node.meta["val"] = torch.empty(sizes if sizes is not None else [0], dtype=dtype, device="meta")
        node.meta["val_sizes_known"] = sizes is not None


class GraphModuleView:
    """What quantizer.annotate receives: `.graph` is the view, other attributes
    come from the ScriptModule (parameters, named_modules, ...)."""

    def __init__(self, module, node_info: Optional[List[Dict[str, Any]]] = None):
        self.module = module
        self.graph = Graph(module)
        if node_info:
            for node in self.graph.nodes:
                if node.ts_index is not None and node.ts_index < len(node_info):
                    info = node_info[node.ts_index]
                    node.meta["nn_module_stack"] = {path: (path, type_name) for path, type_name in info["module_stack"]}
                    node.meta["stack_trace"] = info.get("source", "")

    def __getattr__(self, name):
        return getattr(self.module, name)

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)
