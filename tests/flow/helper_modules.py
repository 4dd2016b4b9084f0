"""Small models with the architectures of upstream's TestHelperModules
(torch/testing/_internal/common_quantization.py), used by the flow tests."""

import torch


class ConvWithBNRelu(torch.nn.Module):
    def __init__(self, relu, dim=2, bn=True, bias=True):
        super().__init__()
        convs = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d}
        bns = {1: torch.nn.BatchNorm1d, 2: torch.nn.BatchNorm2d}
        self.conv = convs[dim](3, 3, 3, bias=bias)
        self.bn = bns[dim](3) if bn else torch.nn.Identity()
        self.relu = torch.nn.ReLU() if relu else torch.nn.Identity()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class ConvMaxPool2d(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 2, 1)
        self.pool = torch.nn.MaxPool2d(1, 1)

    def forward(self, x):
        return self.pool(self.conv(x))


class Conv2dWithCat(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 3, 3)
        self.conv2 = torch.nn.Conv2d(3, 3, 3)

    def forward(self, x, y):
        return torch.cat([self.conv1(x), self.conv2(y)], dim=1)


class Conv2dWithTwoCat(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 3, 3)
        self.conv2 = torch.nn.Conv2d(3, 3, 3)

    def forward(self, x1, x2, x3, x4):
        y = torch.cat([self.conv1(x1), self.conv2(x2)], dim=1)
        z = x3 + x4
        return torch.cat([z, y])


class ThreeAdd(torch.nn.Module):
    def forward(self, x1, x2, x3, x4):
        y = x1 + x2
        z = x3 + x4
        return y + z


class Sigmoid(torch.nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


class SigmoidAdd(torch.nn.Module):
    def forward(self, x, y):
        return torch.sigmoid(x) + y


class TwoLinearModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear1 = torch.nn.Linear(8, 16, bias=False)
        self.linear2 = torch.nn.Linear(16, 8)

    def forward(self, x):
        return self.linear2(self.linear1(x))
