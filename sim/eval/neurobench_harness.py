"""The mapped network through the `neurobench` package's Benchmark harness (optional extra `neurobench`).

Two runs, so aimcgen's figures (sim.eval.neurobench) can be compared with NeuroBench's own:

- hardware: `AimcModel` runs each batch on the golden model (bit-exact to the RTL, emulated read noise
  unless noise=False), one GoldenBackend for the whole dataloader, so the noise generators advance from batch
  to batch as the hardware's do; the custom metrics below read the integers it used. With one batch of the
  whole test set they equal report.json's `neurobench` object exactly.
- float: NeuroBench's own Footprint, ConnectionSparsity, ActivationSparsity, SynapticOperations and
  ClassificationAccuracy on a torch mirror of the float network (nn.Linear / nn.Conv2d with the network's
  weights, nn.ReLU where a layer has relu; float32 parameters). Its footprint is float32 parameters; its
  sparsities and operations count float zeros, where the hardware run counts zero codes. NeuroBench books
  a layer's effective operations of a batch as accumulates (Effective_ACs) when that batch's inputs to it
  happen to be all 0 or 1 (spikes), else as MACs: compare Effective_MACs + Effective_ACs with ours.

Custom metrics (NeuroBench instantiates metric classes without arguments and hands them the model):
AimcFootprint and AimcConnectionSparsity (static), AimcActivationSparsity and AimcSynapticOperations
(accumulated over batches; the latter returns NeuroBench's keys Effective_MACs, Effective_ACs, Dense).
This module imports torch and neurobench at the top: import it only where the extra is installed.
"""

from __future__ import annotations

import numpy as np
import torch
from neurobench.benchmarks import Benchmark
from neurobench.metrics.abstract import AccumulatedMetric, StaticMetric
from neurobench.metrics.static import ConnectionSparsity, Footprint
from neurobench.metrics.workload import ActivationSparsity, ClassificationAccuracy, SynapticOperations
from neurobench.models import NeuroBenchModel, TorchModel
from torch.utils.data import DataLoader, TensorDataset

from aimcgen.sim.eval import neurobench as nb
from aimcgen.sim.eval.backends import GoldenBackend
from aimcgen.sim.eval.layers import ConvLayer
from aimcgen.sim.eval.mapping import NetworkMapping


def torch_mirror(network) -> torch.nn.Sequential:
    """The float network as torch modules NeuroBench's hooks recognize (dense and conv layers with symmetric
    padding; ValueError naming the layer otherwise)."""
    modules = []
    for i, layer in enumerate(network.layers):
        if isinstance(layer, ConvLayer):
            t, l, b, r = layer.pads
            if (t, l) != (b, r):
                raise ValueError(f"layer {i}: asymmetric padding {layer.pads} has no nn.Conv2d mirror")
            f, c, kh, kw = layer.kernel.shape
            conv = torch.nn.Conv2d(c, f, (kh, kw), stride=layer.strides, padding=(t, l), dilation=layer.dilations)
            conv.weight.data = torch.tensor(layer.kernel, dtype=torch.float32)
            conv.bias.data = torch.tensor(layer.bias, dtype=torch.float32)
            modules += [torch.nn.Unflatten(1, layer.in_shape), conv]
        else:
            linear = torch.nn.Linear(layer.in_features, layer.out_features)
            linear.weight.data = torch.tensor(layer.weight.T, dtype=torch.float32)
            linear.bias.data = torch.tensor(layer.bias, dtype=torch.float32)
            modules.append(linear)
        if layer.activation == "relu":
            modules.append(torch.nn.ReLU())
        if isinstance(layer, ConvLayer):
            modules.append(torch.nn.Flatten())
    return torch.nn.Sequential(*modules)


class AimcModel(NeuroBenchModel):
    """A NeuroBench model whose forward pass is the golden model of the mapped network."""

    def __init__(self, mapping: NetworkMapping, noise: bool = True):
        super().__init__()
        self.mapping = mapping
        self.backend = GoldenBackend(mapping, noise=noise)
        self.net = torch_mirror(mapping.network)       # what __net__ shows; never run on the hardware path
        self.runs: list[list[nb.LayerRun]] = []        # per batch since the last reset of the metrics

    def __call__(self, batch):
        trace = self.backend.run_codes(batch.detach().cpu().numpy().astype(np.float64))
        self.runs.append(nb.mapping_runs(self.mapping, trace))
        last = self.mapping.layers[-1]
        return torch.from_numpy(np.argmax(last.dequantize(trace[-1].codes), axis=1))

    def __net__(self):
        return self.net

    def grids(self):
        return [layer.spec for layer in self.mapping.layers]


class AimcFootprint(StaticMetric):
    """sim.eval.neurobench.footprint in bytes: devices and digital state at their real bit widths."""

    def __call__(self, model: AimcModel) -> int:
        return nb.footprint(model.grids())["bytes"]


class AimcConnectionSparsity(StaticMetric):
    """Zero weight codes / weight codes of the mapped layers (sim.eval.neurobench.connection_sparsity)."""

    def __call__(self, model: AimcModel) -> float:
        net = model.mapping.network
        return nb.connection_sparsity([m.weight_codes[:net.layers[m.index].weight.shape[0], :m.out_features]
                                       for m in model.mapping.layers])


class _RunsMetric(AccumulatedMetric):
    """Accumulates the model's recorded layer runs over the batches of one Benchmark.run."""

    def __init__(self):
        super().__init__(requires_hooks=False)
        self.layers: list[nb.LayerRun] | None = None
        self.samples = 0

    def reset(self) -> None:
        self.layers, self.samples = None, 0

    def __call__(self, model: AimcModel, preds, data):
        runs = model.runs[-1]             # this batch's, recorded by AimcModel.__call__
        self.samples += len(preds)
        if self.layers is None:
            self.layers = runs
        else:
            self.layers = [nb.LayerRun(a.index, a.activation, a.weight_codes,
                                       np.concatenate([a.mvm_inputs, b.mvm_inputs]),
                                       np.concatenate([a.output_zero, b.output_zero]), a.dense_macs)
                           for a, b in zip(self.layers, runs)]
        return self.compute()


class AimcActivationSparsity(_RunsMetric):
    """sim.eval.neurobench.activation_sparsity's overall figure over the batches so far."""

    def compute(self) -> float:
        return nb.activation_sparsity(self.layers)["overall"] if self.layers else 0.0


class AimcSynapticOperations(_RunsMetric):
    """Per sample, NeuroBench's keys: Effective_MACs counted from the codes, Effective_ACs 0, Dense."""

    def compute(self) -> dict:
        if not self.layers:
            return {"Effective_MACs": 0.0, "Effective_ACs": 0.0, "Dense": 0.0}
        s = nb.synaptic_operations(self.layers, self.samples)
        return {"Effective_MACs": s["effective_macs"], "Effective_ACs": 0.0, "Dense": s["dense"]}


def _loader(x, y, batch_size: int | None) -> DataLoader:
    data = TensorDataset(torch.tensor(np.asarray(x), dtype=torch.float32), torch.tensor(np.asarray(y)))
    return DataLoader(data, batch_size=batch_size or len(data), shuffle=False)


def run_benchmark(mapping: NetworkMapping, x, y, *, batch_size: int | None = None, noise: bool = True) -> dict:
    """{"hardware": the golden model with aimcgen's metrics, "float": NeuroBench's own metrics on the float
    network}, each the dict Benchmark.run returns. batch_size None: the whole test set in one batch."""
    model = AimcModel(mapping, noise=noise)
    hardware = Benchmark(model, _loader(np.asarray(x, dtype=np.float64), y, batch_size), [], [],
                         [[AimcFootprint, AimcConnectionSparsity],
                          [ClassificationAccuracy, AimcActivationSparsity, AimcSynapticOperations]])
    hardware_results = hardware.run(quiet=True)
    model.runs.clear()
    float_model = TorchModel(torch_mirror(mapping.network))
    reference = Benchmark(float_model, _loader(x, y, batch_size), [], [lambda logits: logits.argmax(dim=1)],
                          [[Footprint, ConnectionSparsity],
                           [ClassificationAccuracy, ActivationSparsity, SynapticOperations]])
    return {"hardware": hardware_results, "float": reference.run(quiet=True)}
