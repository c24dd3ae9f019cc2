#!/usr/bin/python3
"""bench/finetune_patch.py — issue 14's fine-tuning experiment (not shipped): writes a copy of
MobileNetV2's .tflite whose Conv_1 (the last 1x1 conv, 320 -> 1280) carries the float32 weights
and biases that bench/finetune.c trained, so `lookalike index --recipe` with a recipe naming the
copy embeds the catalog and the queries through the trained layer, by the one embed path.

The flatbuffer is patched, not rebuilt: the weights go in a new buffer appended at the end
(Buffer.data's offset re-pointed forward), the bias's int32 buffer is overwritten in place with
float32, both tensors' type bytes become FLOAT32 and their quantisation vectors are emptied
(lengths 0), so the loader keeps the floats as they are.
Usage: finetune_patch.py BASE.tflite WEIGHTS.bin OUT.tflite
"""
import struct
import sys

import numpy as np


def u32(b, p): return struct.unpack_from('<I', b, p)[0]


def i32(b, p): return struct.unpack_from('<i', b, p)[0]


def field(b, t, i):
    """Position of field i of the table at t, or None when absent."""
    vt = t - i32(b, t)
    vtsize = struct.unpack_from('<H', b, vt)[0]
    if 4 + 2 * i >= vtsize:
        return None
    fo = struct.unpack_from('<H', b, vt + 4 + 2 * i)[0]
    return t + fo if fo else None


def ref(b, p): return p + u32(b, p)


def vec(b, t, i):
    """(position of the elements, length) of vector field i."""
    p = field(b, t, i)
    v = ref(b, p)
    return v + 4, u32(b, v)


def tables(b, t, i):
    start, n = vec(b, t, i)
    return [ref(b, start + 4 * k) for k in range(n)]


def name(b, t):
    s = ref(b, field(b, t, 3))
    return bytes(b[s + 4:s + 4 + u32(b, s)]).decode()


def main():
    base, wpath, out = sys.argv[1:4]
    b = bytearray(open(base, 'rb').read())
    model = ref(b, 0)
    sub = tables(b, model, 2)[0]
    tensors = tables(b, sub, 0)
    buffers = tables(b, model, 4)
    conv = None
    for op in tables(b, sub, 3):
        o0, _ = vec(b, op, 2)
        if name(b, tensors[i32(b, o0)]).startswith('MobilenetV2/Conv_1/Relu6'):
            conv = op
    ins, _ = vec(b, conv, 1)
    wt, bt = tensors[i32(b, ins + 4)], tensors[i32(b, ins + 8)]
    wb = np.fromfile(wpath, dtype='<f4')
    assert wb.size == 1280 * 320 + 1280, wb.size
    for t, data in ((wt, wb[:1280 * 320]), (bt, wb[1280 * 320:])):
        tp = field(b, t, 1)
        assert tp is not None and b[tp] in (2, 3), 'Conv_1 weights/bias are not uint8/int32'
        b[tp] = 0  # FLOAT32
        q = ref(b, field(b, t, 4))
        for k in (2, 3):  # scale, zero_point: emptied
            p = field(b, q, k)
            if p is not None:
                struct.pack_into('<I', b, ref(b, p), 0)
        buf = buffers[u32(b, field(b, t, 2))]
        dp = field(b, buf, 0)
        start, n = vec(b, buf, 0)
        raw = data.astype('<f4').tobytes()
        if n == len(raw):
            b[start:start + n] = raw
        else:  # appended, 16-byte aligned, and the buffer's data re-pointed to it
            while (len(b) + 4) % 16:
                b.append(0)
            pos = len(b)
            b += struct.pack('<I', len(raw)) + raw
            struct.pack_into('<I', b, dp, pos - dp)
    open(out, 'wb').write(bytes(b))


if __name__ == '__main__':
    main()
