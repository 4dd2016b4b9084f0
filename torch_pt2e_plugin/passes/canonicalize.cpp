#include "torch_pt2e_plugin/passes/canonicalize.h"

#include <algorithm>
#include <initializer_list>
#include <unordered_map>
#include <unordered_set>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir_views.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/fuse_linear.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/passes/remove_mutation.h>
#include <torch/csrc/jit/passes/shape_analysis.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

#include "torch_pt2e_plugin/jit/class_attributes.h"
#include "torch_pt2e_plugin/passes/conv_bn_weights.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/pass_timer.h"
#include "torch_pt2e_plugin/passes/traced_training_flags.h"

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Graph;
using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

// aten::_convolution argument slots.
constexpr size_t kConvInput = 0, kConvWeight = 1, kConvBias = 2, kConvStride = 3, kConvPadding = 4,
                 kConvDilation = 5, kConvTransposed = 6, kConvOutputPadding = 7, kConvGroups = 8;
// aten::batch_norm argument slots.
constexpr size_t kBnInput = 0, kBnWeight = 1, kBnBias = 2, kBnMean = 3, kBnVar = 4, kBnTraining = 5, kBnEps = 7;

// Rank of the convolution's weight: from the attribute it reads, else from
// the traced type.
c10::optional<int64_t> weight_rank(Value* weight, const Module& owner) {
  if (const auto tensor = attribute_tensor(weight, owner)) return tensor->dim();
  if (const auto type = weight->type()->cast<c10::TensorType>()) {
    if (const auto dims = type->dim()) return static_cast<int64_t>(*dims);
  }
  return c10::nullopt;
}

// aten::_convolution(input, weight, bias, stride, padding, dilation,
//                    transposed, output_padding, groups, ...)
//   -> aten::conv{N}d(input, weight, bias, stride, padding, dilation, groups)
//   -> aten::conv_transpose{N}d(input, weight, bias, stride, padding,
//                               output_padding, groups, dilation)
bool rewrite_convolution(Node* node, const Module& owner) {
  const auto transposed = constant_value(node->input(kConvTransposed));
  const auto rank = weight_rank(node->input(kConvWeight), owner);
  if (!transposed || !transposed->isBool() || !rank || *rank < 3 || *rank > 5) return false;
  const int64_t spatial = *rank - 2;
  Graph* graph = node->owningGraph();
  torch::jit::WithInsertPoint guard(node);
  Node* replacement = nullptr;
  if (!transposed->toBool()) {
    const c10::Symbol kind = c10::Symbol::fromQualString("aten::conv" + std::to_string(spatial) + "d");
    replacement = graph->create(kind, {node->input(kConvInput), node->input(kConvWeight), node->input(kConvBias),
                                       node->input(kConvStride), node->input(kConvPadding),
                                       node->input(kConvDilation), node->input(kConvGroups)});
  } else {
    const c10::Symbol kind = c10::Symbol::fromQualString("aten::conv_transpose" + std::to_string(spatial) + "d");
    replacement = graph->create(kind, {node->input(kConvInput), node->input(kConvWeight), node->input(kConvBias),
                                       node->input(kConvStride), node->input(kConvPadding),
                                       node->input(kConvOutputPadding), node->input(kConvGroups),
                                       node->input(kConvDilation)});
  }
  graph->insertNode(replacement);
  replacement->output()->setType(node->output()->type());
  copy_metadata(node, replacement);
  node->output()->replaceAllUsesWith(replacement->output());
  node->destroy();
  return true;
}

// conv -> batch_norm(training=False), with the conv output used by the batch
// norm alone: batch norm folded into new weight/bias attributes of `owner`
// with torch.nn.utils.fusion.fuse_conv_bn_weights' arithmetic (so weights
// are bit-identical with upstream's _fuse_conv_bn_).
bool fold_conv_bn(Node* bn, Module& owner, WeightArena& arena) {
  Value* bn_input = bn->input(kBnInput);
  Node* conv = bn_input->node();
  if (!is_conv(conv) || bn_input->uses().size() != 1) return false;
  const auto training = constant_value(bn->input(kBnTraining));
  const auto eps = constant_value(bn->input(kBnEps));
  if (!training || !training->isBool() || training->toBool() || !eps || !eps->isDouble()) return false;
  const auto conv_w = attribute_tensor(conv->input(1), owner);
  const auto mean = attribute_tensor(bn->input(kBnMean), owner);
  const auto var = attribute_tensor(bn->input(kBnVar), owner);
  if (!conv_w || !mean || !var) return false;
  // Optional tensors: an attribute, or a None constant.
  auto optional_tensor = [&](Value* v, c10::optional<at::Tensor>& out) {
    if (const auto t = attribute_tensor(v, owner)) {
      out = *t;
      return true;
    }
    const auto c = constant_value(v);
    if (!c) {
      const auto attr = attribute_value(v, owner);
      return attr && attr->isNone();
    }
    return c->isNone();
  };
  c10::optional<at::Tensor> conv_b, bn_w, bn_b;
  if (!optional_tensor(conv->input(2), conv_b) || !optional_tensor(bn->input(kBnWeight), bn_w) ||
      !optional_tensor(bn->input(kBnBias), bn_b)) {
    return false;
  }
  const bool transpose = is_conv_transpose(conv);
  if (transpose) {
    const auto groups = constant_value(conv->input(6));
    if (!groups || !groups->isInt() || groups->toInt() != 1) return false;  // out channels are not dim 1
  }

  const auto fused = fuse_conv_bn_weights(*conv_w, conv_b, *mean, *var, eps->toDouble(), bn_w, bn_b, transpose, &arena);
  const at::Tensor& fused_w = fused.first;
  const at::Tensor& fused_b = fused.second;

  Graph& graph = *conv->owningGraph();
  const auto weight_ref = resolve_attribute(conv->input(1), owner);
  std::string base = weight_ref ? weight_ref->path : std::string("conv.weight");
  for (auto& c : base) c = c == '.' ? '_' : c;
  Value* new_w = add_tensor_attribute(owner, graph, base + "_fused_bn", fused_w, /*is_parameter=*/true);
  Value* new_b = add_tensor_attribute(owner, graph, base + "_fused_bn_bias", fused_b, /*is_parameter=*/true);
  conv->replaceInput(1, new_w);
  conv->replaceInput(2, new_b);
  bn->output()->replaceAllUsesWith(conv->output());
  bn->destroy();
  return true;
}

// Optional[Tensor] attributes (a conv's bias) that hold a tensor are read as
// Tensor, through prim::unchecked_cast, so quantize/dequantize can take them
// and the module still saves and loads (the attribute keeps its type).
bool refine_optional_tensor_attributes(Graph& graph, const Module& owner) {
  bool changed = false;
  const auto optional_tensor = c10::OptionalType::ofTensor();
  for (auto it = graph.nodes().begin(); it != graph.nodes().end(); ++it) {
    Node* get = *it;
    if (get->kind() != c10::prim::GetAttr || *get->output()->type() != *optional_tensor || !get->hasUses()) continue;
    if (!attribute_tensor(get->output(), owner)) continue;
    torch::jit::WithInsertPoint guard(get->next());
    Node* cast = graph.insertNode(graph.create(c10::prim::unchecked_cast, {get->output()}));
    cast->output()->setType(c10::TensorType::get());
    cast->output()->setDebugName(get->output()->debugName() + "_tensor");
    copy_metadata(get, cast);  // quantizers' module filters read the cast's call stack
    get->output()->replaceAllUsesAfterNodeWith(cast, cast->output());
    changed = true;
  }
  return changed;
}

// Attribute values a graph can hold as constants: numbers, bools, strings,
// None and tuples/lists of them (hyper-parameters and the training flag).
bool is_constant_attribute(const c10::IValue& value) {
  if (value.isNone() || value.isBool() || value.isInt() || value.isDouble() || value.isString()) return true;
  if (value.isIntList() || value.isDoubleList() || value.isBoolList()) return true;
  if (value.isTuple()) {
    for (const auto& element : value.toTupleRef().elements()) {
      if (!is_constant_attribute(element)) return false;
    }
    return true;
  }
  return false;
}

// Whether a node of one of these kinds is in the graph (nested blocks included).
bool has_node_of_kind(std::shared_ptr<Graph> graph, std::initializer_list<c10::Symbol> kinds) {
  for (torch::jit::DepthFirstGraphNodeIterator it(graph); Node* node = it.next();) {
    if (std::find(kinds.begin(), kinds.end(), node->kind()) != kinds.end()) return true;
  }
  return false;
}

// With inline_forward, freeze_module's effect on what quantizers see, in
// linear time (freeze_module itself is quadratic in the number of
// submodules): non-tensor attributes folded to constants, the branches they
// decide removed. Tensor attributes stay prim::GetAttr reads.
void fold_attributes(Module& module, bool fold_training) {
  auto graph = module.get_method("forward").graph();
  PassTimer fold_timer("canonicalize: fold attributes");
  // Every block, not only the top one: reads inside branches that constant
  // propagation later inlines (e.g. `if self.use_res_connect:`) are folded too.
  std::vector<Node*> reads;
  for (torch::jit::DepthFirstGraphNodeIterator it(graph); Node* node = it.next();) {
    if (node->kind() == c10::prim::GetAttr) reads.push_back(node);
  }
  for (Node* node : reads) {
    // Reads of tensors and of objects (submodules) are most reads, and never
    // constants: no need to look their values up.
    const c10::TypeKind kind = node->output()->type()->kind();
    if (kind == c10::TypeKind::TensorType || kind == c10::TypeKind::ClassType) continue;
    if (!fold_training && node->s(c10::attr::name) == "training") continue;
    const auto value = attribute_value(node->output(), module);
    if (!value || !is_constant_attribute(*value)) continue;
    torch::jit::WithInsertPoint guard(node);
    Value* constant = graph->insertConstant(*value, node->sourceRange());
    constant->setType(node->output()->type());
    node->output()->replaceAllUsesWith(constant);
  }
  {
    PassTimer timer("canonicalize: constant propagation");
    torch::jit::ConstantPropagationImmutableTypes(graph);
  }
  {
    // Tuples built by one inlined call and unpacked by its caller (traced
    // multi-output modules such as GRU) become plain values.
    PassTimer timer("canonicalize: lower tuples");
    // The block form: the graph form adds a whole-graph EliminateDeadCode
    // with alias analysis (0.8 s at 100k nodes), which the dead code
    // elimination below does as well.
    torch::jit::LowerSimpleTuples(graph->block());
  }
  PassTimer timer("canonicalize: dce");
  eliminate_dead_code(graph);
}

using torch::jit::InlinedCallStack;
using torch::jit::InlinedCallStackPtr;

// The last (innermost) frame of a call stack.
const InlinedCallStack* innermost_frame(const InlinedCallStackPtr& stack) {
  const InlinedCallStack* frame = stack.get();
  while (const auto callee = frame->callee()) frame = callee->get();
  return frame;
}

// Fixes the call stacks of the nodes in [first, end) and in their blocks,
// which torch::jit::inlineCallTo just inlined for one call: each starts with
// the frame inlineCallTo made for that call. inlineCallTo works for Inline's
// bottom-up order; outside in, two things differ:
// - The replaced call was itself inlined, and its own stack (`outer`), which
//   names the modules above it, goes in front (module_stack reads the whole
//   stack for module-name and module-type filters).
// - A method calling another method on its own module (Conv2d.forward's
//   self._conv_forward) had `self` as its receiver, which inlineCallTo names
//   "SELF" (module_stack skips it); inlined, the receiver is the caller's
//   prim::GetAttr, whose name would count the module twice ("conv.conv").
//   With `self_call`, the frame names no module instance, which module_stack
//   skips as it skips "SELF" (LibTorch does not export ModuleInstanceInfo's
//   constructor, so the name itself cannot be made here).
// Returns the frame the inlined nodes' stacks now end with when the callee's
// graph had no call stacks of its own (a method's graph as written), else null.
InlinedCallStackPtr restack(Node* first, Node* end, const c10::optional<InlinedCallStackPtr>& outer,
                           bool self_call) {
  std::vector<InlinedCallStackPtr> frames;  // outer's entries, outermost first
  for (c10::optional<InlinedCallStackPtr> at = outer; at; at = (*at)->callee()) frames.push_back(*at);
  // One new chain per distinct stack.
  std::unordered_map<InlinedCallStack*, InlinedCallStackPtr> rebuilt;
  InlinedCallStackPtr body_frame;
  auto rebuild = [&](const InlinedCallStackPtr& stack) {
    InlinedCallStackPtr& chain = rebuilt[stack.get()];
    if (chain) return chain;
    chain = stack;
    if (self_call && stack->module_instance()) {
      chain = c10::make_intrusive<InlinedCallStack>(stack->function(), stack->source_range());
      if (const auto callee = stack->callee()) chain->setCallee(*callee);
    }
    if (!stack->callee()) body_frame = chain;
    for (auto frame = frames.rbegin(); frame != frames.rend(); ++frame) {
      chain = c10::make_intrusive<InlinedCallStack>(chain, (*frame)->function(), (*frame)->source_range(),
                                                    (*frame)->module_instance());
    }
    return chain;
  };
  std::vector<Node*> pending;
  for (Node* node = first; node != end; node = node->next()) pending.push_back(node);
  while (!pending.empty()) {
    Node* node = pending.back();
    pending.pop_back();
    if (const auto stack = node->callstack()) node->setCallStack(rebuild(*stack));
    for (torch::jit::Block* block : node->blocks()) {
      for (Node* nested : block->nodes()) pending.push_back(nested);
    }
  }
  return rebuilt.size() == 1 ? body_frame : InlinedCallStackPtr();
}

// Inlines every method call (prim::CallMethod) with the callee's graph as
// written, and every function call (prim::CallFunction: torch.nn.functional
// helpers) with the function's optimized graph as torch::jit::Inline would,
// outside in, each inlined node's call stack starting with the stack of the
// call it came from (restack); calls through a module interface stay calls,
// as Inline leaves them. Inline would use each method's
// LibTorch-optimized graph, which LibTorch makes once per method on first use:
// that method's own calls inlined and then peephole (with alias analysis),
// constant propagation and pooling, so a method that calls submodules has
// everything beneath it inlined and optimized once more. Nothing reuses that
// work: the canonical graph is optimized as a whole afterwards. A first
// ResNet-50 canonicalize spent 30.5 ms in Inline with optimized graphs
// throughout, 14 ms with its own methods and Sequentials inlined as written
// (session 18) and ~4 ms with every method inlined as written. What the
// optimized graphs had done is redone on the whole graph, in linear time:
// fold_inlined_checks (LibTorch's peephole rules that apply), conv ranks,
// constant propagation, pooling. On 20 torchvision models (BENCHMARKS.md,
// session 19) the canonical graphs are the same nodes as before except that
// inception_v3 keeps a cat of a cat unmerged (as torch.export records it;
// LibTorch's CombineConcats merged them inside InceptionE.forward) and
// densenet121 and mobilenet_v2 lose one more len() check.
void inline_as_written(Graph& graph) {
  // The receiver of each method call inlined, by the frame its inlined body's
  // call stacks end with: a call in that body on the same receiver is a call
  // on its own module.
  // (The frames are kept alive here, so that no other frame takes an address.)
  std::unordered_map<const InlinedCallStack*, std::pair<InlinedCallStackPtr, const Value*>> receivers;
  std::vector<torch::jit::Block*> blocks = {graph.block()};
  while (!blocks.empty()) {
    torch::jit::Block* block = blocks.back();
    blocks.pop_back();
    for (Node* node = block->nodes().front(); node != block->return_node();) {
      Node* next = node->next();
      Node* const after = next;
      torch::jit::GraphFunction* callee = nullptr;
      std::shared_ptr<Graph> body;
      if (node->kind() == c10::prim::CallMethod) {
        if (const auto receiver = node->input(0)->type()->cast<c10::ClassType>()) {
          callee = torch::jit::tryToGraphFunction(receiver->getMethod(node->s(c10::attr::name)));
          if (callee != nullptr) body = callee->graph();
        }
      } else if (node->kind() == c10::prim::CallFunction) {
        // As Inline does: the function's optimized graph, which LibTorch
        // keeps on the function (torch.nn.functional's live for the process).
        const auto function = node->input(0)->type()->cast<c10::FunctionType>();
        callee = function ? torch::jit::tryToGraphFunction(*function->function()) : nullptr;
        if (callee != nullptr) {
          body = callee->optimized_graph();
          node->removeInput(0);
        }
      }
      if (callee != nullptr) {
        const Value* receiver = node->kind() == c10::prim::CallMethod ? node->input(0) : nullptr;
        const auto outer = node->callstack();
        const auto caller = outer ? receivers.find(innermost_frame(*outer)) : receivers.end();
        const bool self_call = receiver != nullptr && caller != receivers.end() && caller->second.second == receiver;
        // The callee's nodes land before `next`; they are scanned next.
        Node* before = node->prev();
        torch::jit::inlineCallTo(node, callee, body.get());
        next = before->next();
        InlinedCallStackPtr body_frame = restack(next, after, outer, self_call);
        if (receiver != nullptr && body_frame) receivers[body_frame.get()] = {body_frame, receiver};
      } else {
        for (torch::jit::Block* nested : node->blocks()) blocks.push_back(nested);
      }
      node = next;
    }
  }
}

// Whether some node may write into `value` or into a view of it: a user
// whose schema gives that argument alias information (an in-place op, or a
// view whose writes would reach it), or one without a schema (a list or
// tuple holding it, the graph's return). More cautious than LibTorch's alias
// analysis, which the whole graph would cost (~0.8 s at 100k nodes).
bool may_be_written(const Value* value) {
  for (const torch::jit::Use& use : value->uses()) {
    const c10::FunctionSchema* schema = use.user->maybeSchema();
    if (schema == nullptr) return true;
    if (use.offset >= schema->arguments().size()) return true;  // vararg
    if (schema->arguments()[use.offset].alias_info() != nullptr) return true;
  }
  return false;
}

// The rules of LibTorch's peephole pass that methods inlined as written need
// (inline_as_written), nested blocks included:
// - prim::unchecked_cast of a value already of the cast's type is the value;
// - a bool output of prim::If that is true in the then-branch and false in
//   the else-branch is the condition (`x and True`);
// - len() of a list built in the graph (prim::ListConstruct) is its length
//   where nothing writes into the list;
// - `x is None` / `x is not None` is decided when x's type cannot hold None
//   (a tensor attribute read as Tensor) or is None itself.
void fold_inlined_checks(std::shared_ptr<Graph> graph) {
  for (torch::jit::DepthFirstGraphNodeIterator it(graph); Node* node = it.next();) {
    if (node->kind() == c10::prim::unchecked_cast) {
      if (node->input()->type()->isSubtypeOf(*node->output()->type())) {
        node->output()->replaceAllUsesWith(node->input());
      }
      continue;
    }
    if (node->kind() == c10::prim::If) {
      torch::jit::IfView view(node);
      for (size_t i = 0; i < node->outputs().size(); ++i) {
        if (node->output(i)->type()->kind() != c10::TypeKind::BoolType) continue;
        const auto then_value = torch::jit::constant_as<bool>(view.thenOutputs()[i]);
        const auto else_value = torch::jit::constant_as<bool>(view.elseOutputs()[i]);
        if (then_value && *then_value && else_value && !*else_value) node->output(i)->replaceAllUsesWith(view.cond());
      }
      continue;
    }
    if (node->kind() == c10::aten::len && node->input()->node()->kind() == c10::prim::ListConstruct &&
        !may_be_written(node->input())) {
      torch::jit::WithInsertPoint guard(node);
      node->output()->replaceAllUsesWith(
          graph->insertConstant(static_cast<int64_t>(node->input()->node()->inputs().size())));
      continue;
    }
    if (node->kind() != c10::aten::__is__ && node->kind() != c10::aten::__isnot__) continue;
    const auto is_none = [](Value* v) { return v->type()->kind() == c10::TypeKind::NoneType; };
    const auto never_none = [](Value* v) {
      const auto kind = v->type()->kind();
      return kind != c10::TypeKind::NoneType && kind != c10::TypeKind::OptionalType &&
             kind != c10::TypeKind::UnionType && kind != c10::TypeKind::AnyType;
    };
    Value* a = node->input(0);
    Value* b = node->input(1);
    c10::optional<bool> same;
    if (is_none(a) && is_none(b)) same = true;
    if ((is_none(a) && never_none(b)) || (is_none(b) && never_none(a))) same = false;
    if (!same) continue;
    torch::jit::WithInsertPoint guard(node);
    const bool result = node->kind() == c10::aten::__is__ ? *same : !*same;
    node->output()->replaceAllUsesWith(graph->insertConstant(result));
  }
}

// x.dim() of a convolution's output becomes its rank (3, 4, 5 for conv1d,
// 2d, 3d), as LibTorch's alias-sensitive peephole does inside the optimized
// graphs Inline uses. Batch norm's input check reads it, and a second use of
// the convolution's output keeps the batch norm from folding into it. Here it
// also reaches forward's own code and the methods forward calls on its
// module, whose graphs are inlined as written: before, `self.bn(self.conv(x))`
// written in a top-level forward kept its batch norm. Like LibTorch, only
// where nothing writes into the output (a resize_ could change the rank).
void fold_convolution_ranks(std::shared_ptr<Graph> graph) {
  for (torch::jit::DepthFirstGraphNodeIterator it(graph); Node* node = it.next();) {
    int64_t rank = 0;
    if (node->kind() == c10::aten::conv1d) rank = 3;
    if (node->kind() == c10::aten::conv2d) rank = 4;
    if (node->kind() == c10::aten::conv3d) rank = 5;
    if (rank == 0 || may_be_written(node->output())) continue;
    std::vector<Node*> dims;
    for (const torch::jit::Use& use : node->output()->uses()) {
      if (use.user->kind() == c10::aten::dim) dims.push_back(use.user);
    }
    for (Node* dim : dims) {
      torch::jit::WithInsertPoint guard(dim);
      dim->output()->replaceAllUsesWith(graph->insertConstant(rank));
    }
  }
}

// A clone of `module` whose forward is `module`'s forward with every call
// inlined (inline_as_written): method calls as written, function calls with
// their optimized graphs, which LibTorch keeps on the function for the
// process. torch::jit::Inline then finds nothing left to inline in a
// scripted or traced forward, and stays as a guard. The inlining runs on a
// copy of the original's graph, with the original classes' methods; only
// then is the graph retyped to the clone's classes. The inlined nodes' call stacks name the original
// classes and functions, which live as long as their compilation unit: the
// clone's own unit keeps it alive (jit::clone_module).
Module clone_with_inlined_forward(const Module& module) {
  PassTimer timer("canonicalize: clone");
  jit::ClassClones classes;
  Module clone = jit::clone_module(module, /*ignored_methods=*/{"forward"}, /*ignored_attributes=*/{}, &classes);
  const torch::jit::Function& forward = module.get_method("forward").function();
  auto graph = torch::jit::toGraphFunction(forward).graph()->copy();
  {
    PassTimer inline_timer("canonicalize: Inline");
    inline_as_written(*graph);
    torch::jit::Inline(*graph);
    fold_inlined_checks(graph);
    fold_convolution_ranks(graph);
  }
  jit::add_cloned_method(clone, forward, std::move(graph), classes);
  return clone;
}

// After inlining, only the top module's forward runs: every other method
// (of the top module and of submodule classes) is dropped, so removing
// attributes later cannot leave a method reading a missing attribute.
void drop_other_methods(Module& module) {
  std::unordered_set<c10::ClassType*> seen;
  for (const auto& child : module.modules()) {
    const auto type = child.type();
    if (!seen.insert(type.get()).second) continue;
    std::vector<std::string> names;
    for (torch::jit::Function* method : type->methods()) {
      if (!(type == module.type() && method->name() == "forward")) names.push_back(method->name());
    }
    for (const auto& name : names) type->unsafeRemoveMethod(name);
  }
}

// Tensor constants with elements (what freezing makes of plain tensor
// attributes, and tracing of tensors built in forward) become buffers
// `_tensor_constant_<N>` read by prim::GetAttr, as torch.export lifts them to
// get_attr nodes: quantizers can annotate them like any weight. 0-d constants
// stay: they are how tracing records Python scalars.
bool lift_tensor_constants(Graph& graph, Module& owner) {
  bool changed = false;
  int64_t next = 0;
  for (auto it = graph.nodes().begin(); it != graph.nodes().end();) {
    Node* node = *it++;
    if (node->kind() != c10::prim::Constant || !node->hasUses()) continue;
    if (node->output()->type()->kind() != c10::TypeKind::TensorType) continue;
    const auto value = constant_value(node->output());
    if (!value || !value->isTensor() || value->toTensor().dim() == 0) continue;
    std::string name;
    do {
      name = "_tensor_constant_" + std::to_string(next++);
    } while (owner.hasattr(name) || owner.type()->hasAttribute(name));
    Value* read = add_tensor_attribute(owner, graph, name, value->toTensor(), /*is_parameter=*/false);
    read->setType(node->output()->type());
    copy_metadata(node, read->node());
    node->output()->replaceAllUsesWith(read);
    node->destroy();
    changed = true;
  }
  return changed;
}

// Traced graphs know their inputs' dtypes and shapes, which freezing drops;
// they are put back and propagated, so quantizers see which values are float.
void restore_traced_types(const Module& original, const std::shared_ptr<Graph>& frozen) {
  const auto inputs = original.get_method("forward").graph()->inputs();
  if (inputs.size() != frozen->inputs().size() || inputs.size() < 2) return;
  for (size_t i = 1; i < inputs.size(); ++i) {
    const auto type = inputs[i]->type()->cast<c10::TensorType>();
    if (!type || !type->scalarType() || !type->sizes().concrete_sizes()) return;
  }
  for (size_t i = 1; i < inputs.size(); ++i) frozen->inputs()[i]->setType(inputs[i]->type());
  torch::jit::PropagateInputShapes(frozen);
}

// Module::clone copies parameters with autograd-recorded clones, which are not
// leaves: an optimizer could not train them (QAT) and .grad would stay empty.
// (Slot by slot: named_parameters would copy every parameter's name, ~40 ms
// for a model of 28k modules whose parameters are all leaves.)
void make_parameters_leaves(Module& module) {
  for (const auto& child : module.modules()) {
    const auto& type = *child.type();
    for (size_t slot = 0; slot < type.numAttributes(); ++slot) {
      if (!type.is_parameter(slot)) continue;
      const c10::IValue& value = child._ivalue()->getSlot(slot);
      if (!value.isTensor() || value.toTensor().is_leaf()) continue;
      const at::Tensor& t = value.toTensor();
      child._ivalue()->setSlot(slot, t.detach().requires_grad_(t.requires_grad()));
    }
  }
}

}  // namespace

bool rewrite_convolution_calls(const std::shared_ptr<Graph>& graph, const Module& owner) {
  bool changed = false;
  for (auto it = graph->nodes().begin(); it != graph->nodes().end();) {
    Node* node = *it++;
    if (node->kind() == c10::aten::_convolution) changed |= rewrite_convolution(node, owner);
  }
  return changed;
}

Module canonicalize_for_annotation(const Module& module, const CanonicalizeOptions& options) {
  TORCH_CHECK(module.find_method("forward"), "prepare_pt2e: the module has no forward method");
  // A clone: new class types and method graphs, so the input's code and
  // attribute slots are untouched. Tensors are shared, not copied (as
  // upstream's prepare shares the exported model's parameters): no pass
  // writes into an existing tensor, and copying every weight costs more than
  // all the passes together on a large model.
  Module frozen = clone_with_inlined_forward(module);
  make_parameters_leaves(frozen);
  {
    PassTimer timer("canonicalize: inline");
    fold_attributes(frozen, options.fold_training);
    drop_other_methods(frozen);
  }
  auto graph = frozen.get_method("forward").graph();
  PassTimer timer("canonicalize: rewrites");
  bool rewritten = false;
  {
    PassTimer step("canonicalize: conv/linear forms");
    rewritten |= rewrite_convolution_calls(graph, frozen);
    // FuseLinear's pattern matching costs about 4 us per node even where no
    // node could start a match; its patterns start with these kinds.
    if (has_node_of_kind(graph, {c10::aten::addmm, c10::aten::matmul, c10::aten::t})) {
      torch::jit::FuseLinear(graph);
      rewritten = true;
    }
  }
  {
    PassTimer step("canonicalize: remove mutation");
    rewritten |= torch::jit::RemoveTensorMutation(graph);
  }
  PassTimer fold_step("canonicalize: fold conv-bn, lift");
  if (options.fold_conv_bn) {
    WeightArena arena;
    for (auto it = graph->nodes().begin(); it != graph->nodes().end();) {
      Node* node = *it++;
      if (node->kind() == c10::aten::batch_norm) rewritten |= fold_conv_bn(node, frozen, arena);
    }
  }
  refine_optional_tensor_attributes(*graph, frozen);
  // The graph had no dead code after inline_and_fold_attributes; only the
  // rewrites above leave some (the inputs of the nodes they replaced).
  if (rewritten) eliminate_dead_code(graph);
  pool_constants(graph);
  lift_tensor_constants(*graph, frozen);
  restore_traced_types(module, graph);
  // Training keeps the flags as reads; a traced module has them as constants.
  if (!options.fold_training && is_traced_module(module)) read_training_flags_from_module(frozen);
  return frozen;
}

}  // namespace passes
}  // namespace torch_pt2e
