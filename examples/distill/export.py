"""Export an Encoder (model.py) as one float32 .npy per tensor, named by its C++ bundle path.

The paths are those of secformer::nn::UseParams (include/secformer/nn/use.hpp), so
load_bundle(shapes::use(), folder) (include/secformer/nn/weights.hpp: folder/<path>.npy, members
joined by '.', element i of the vector `layer` is `layer<i>`, matrices [in, out] multiplied from the
right) reads a student folder directly:

  emb.token                 [8002, 256]   2 E: TWICE the token embedding E (the teacher's; frozen in the
                                          students), as load_use stores it: the graph adds E[id] twice
  emb.position              [128, 256]    timing signal rows p = 0..127 ([sin | cos])
  emb.segment               [1, 256]      zeros (the graph has no token types)
  emb.ln.gamma/beta         [256]         ones/zeros (the graph has no embedding LayerNorm)
  proj.w/b                  [256, 512]    layer 0's residual projection (on the un-normalised input)
  layer<i>.ln_attn.gamma/beta             LayerNorm before attention (eps 1e-6); i = 0: 256, i = 1: 512
  layer<i>.attn.wqkv        [d_in, 3 d_in] q | k | v columns, 4 heads each (head = d_in / 4);
                                          scores (q k^T) / sqrt(head): q is NOT pre-scaled
  layer<i>.attn.bqkv        [3 d_in]
  layer<i>.attn.wo/bo       [d_in, 512]
  layer<i>.ln_ffn.gamma/beta [512]        LayerNorm before the FFN
  layer<i>.fc1.w/b          [512, 1536]
  layer<i>.fc2.w/b          [1536, 512]
  final_layer.w/b           [512, 512]    tanh layer on the mean of the last layer's real tokens
and, outside UseParams:
  classifier.w              [512, 2]      logistic head (no bias) on the L2-normalised embedding;
                                          class 1 = positive; argmax(e W) = argmax(z W), so the
                                          secure side may skip the normalisation
  config.json               attention ("softmax" | "2quad", c = 5), activation ("relu" | "gelu" |
                                          "quad"), constants, tensor shapes
"""
import json
import os

import numpy as np
import torch


def tensors(net):
    sd = {k: v.detach().to(torch.float64).cpu().numpy() for k, v in net.state_dict().items()}
    out = {'emb.token': 2.0 * sd['token.weight'],  # the layer-0 input is 2 E[id] + timing (model.py)
           'emb.position': net.position(128, torch.float64).detach().numpy(),
           'emb.segment': np.zeros((1, 256)), 'emb.ln.gamma': np.ones(256), 'emb.ln.beta': np.zeros(256),
           'proj.w': sd['layers.0.proj.weight'].T, 'proj.b': sd['layers.0.proj.bias']}
    for i in range(len(net.layers)):
        p, q = f'layers.{i}.', f'layer{i}.'
        out[q + 'ln_attn.gamma'], out[q + 'ln_attn.beta'] = sd[p + 'ln1.weight'], sd[p + 'ln1.bias']
        out[q + 'attn.wqkv'], out[q + 'attn.bqkv'] = sd[p + 'qkv.weight'].T, sd[p + 'qkv.bias']
        out[q + 'attn.wo'], out[q + 'attn.bo'] = sd[p + 'wo.weight'].T, sd[p + 'wo.bias']
        out[q + 'ln_ffn.gamma'], out[q + 'ln_ffn.beta'] = sd[p + 'ln2.weight'], sd[p + 'ln2.bias']
        for f in ('fc1', 'fc2'):
            out[q + f + '.w'], out[q + f + '.b'] = sd[p + f + '.weight'].T, sd[p + f + '.bias']
    out['final_layer.w'], out['final_layer.b'] = sd['pooler.weight'].T, sd['pooler.bias']
    out['classifier.w'] = sd['classifier.weight'].T
    return out


def export(net, folder, dtype=np.float32):
    os.makedirs(folder, exist_ok=True)
    t = tensors(net)
    for k, v in t.items():
        np.save(os.path.join(folder, k + '.npy'), np.ascontiguousarray(v.astype(dtype)))
    cfg = {'emb_token': '2 E (twice the embedding table; layer-0 input = emb.token[id] + emb.position[p])',
           'attention': net.attn, 'activation': net.act, 'two_quad_c': 5.0, 'layernorm_eps': 1e-6,
           'heads': 4, 'max_tokens': 128, 'tensors': {k: list(v.shape) for k, v in t.items()},
           'parameters': int(sum(v.size for v in t.values())),
           'activation_formula': {'relu': 'max(x, 0)', 'gelu': '0.5 x (1 + erf(x / sqrt 2))',
                                  'quad': '0.125 x^2 + 0.25 x + 0.5'}[net.act]}
    json.dump(cfg, open(os.path.join(folder, 'config.json'), 'w'), indent=1)
    return t


def load_into(net, folder):
    """The inverse of export (for checks): reads folder/<path>.npy into net."""
    sd = net.state_dict()
    rd = lambda k: torch.from_numpy(np.load(os.path.join(folder, k + '.npy')).astype(np.float64))
    new = {'token.weight': rd('emb.token') / 2.0, 'inv_timescale': sd['inv_timescale'],
           'layers.0.proj.weight': rd('proj.w').T, 'layers.0.proj.bias': rd('proj.b')}
    for i in range(len(net.layers)):
        p, q = f'layers.{i}.', f'layer{i}.'
        new[p + 'ln1.weight'], new[p + 'ln1.bias'] = rd(q + 'ln_attn.gamma'), rd(q + 'ln_attn.beta')
        new[p + 'qkv.weight'], new[p + 'qkv.bias'] = rd(q + 'attn.wqkv').T, rd(q + 'attn.bqkv')
        new[p + 'wo.weight'], new[p + 'wo.bias'] = rd(q + 'attn.wo').T, rd(q + 'attn.bo')
        new[p + 'ln2.weight'], new[p + 'ln2.bias'] = rd(q + 'ln_ffn.gamma'), rd(q + 'ln_ffn.beta')
        for f in ('fc1', 'fc2'):
            new[p + f + '.weight'], new[p + f + '.bias'] = rd(q + f + '.w').T, rd(q + f + '.b')
    new['pooler.weight'], new['pooler.bias'] = rd('final_layer.w').T, rd('final_layer.b')
    new['classifier.weight'] = rd('classifier.w').T
    net.load_state_dict({k: v.to(sd[k].dtype).contiguous() for k, v in new.items()})
    return net
