#!/usr/bin/python3
"""Writes ONNX test models with Debian's python3-onnx (the reference writer), covering every
way a TensorProto can hold its data: raw_data in every numeric type, the typed fields
(float_data, int32_data with negatives and float16/bfloat16 bits, int64_data, double_data,
uint64_data), empty and string tensors, Constant nodes inside If and Loop subgraphs (also
unnamed ones), a sparse initializer, and external data (one shared file, one file per
tensor, and data files in a subdirectory with bytes before, between and after the tensors
and a tensor whose range has no length).

Usage: onnx_make_fixtures.py OUTDIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(20251126)


def model(graph, opset=17):
    m = helper.make_model(graph, producer_name="mln-tests", opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def dtypes_raw():
    inits = []
    for dt in [np.float32, np.float16, np.float64, np.int8, np.uint8, np.int16, np.uint16,
               np.int32, np.int64, np.uint32, np.uint64]:
        a = (RNG.standard_normal((3, 5)) * 100).astype(dt)
        inits.append(numpy_helper.from_array(a, f"raw_{np.dtype(dt).name}"))
    inits.append(numpy_helper.from_array(RNG.standard_normal(7) > 0, "raw_bool"))
    bf16 = RNG.integers(0, 65535, size=6, dtype=np.uint16)
    inits.append(helper.make_tensor("raw_bfloat16", TensorProto.BFLOAT16, [2, 3], bf16.tobytes(), raw=True))
    inits.append(numpy_helper.from_array(np.zeros((0, 4), np.float32), "raw_empty"))
    inits.append(numpy_helper.from_array(np.float32(3.5), "raw_scalar"))
    g = helper.make_graph([], "dtypes_raw", [], [], initializer=inits)
    return model(g)


def typed_fields():
    T = TensorProto
    f = RNG.standard_normal(12).astype(np.float32)
    inits = [
        helper.make_tensor("t_float", T.FLOAT, [3, 4], f),
        helper.make_tensor("t_int32", T.INT32, [5], [-2147483648, -1, 0, 1, 2147483647]),
        helper.make_tensor("t_int64", T.INT64, [4], [-(2 ** 63), -5, 7, 2 ** 62]),
        helper.make_tensor("t_double", T.DOUBLE, [2], [1.0 / 3, -2.5e300]),
        helper.make_tensor("t_uint64", T.UINT64, [3], [0, 2 ** 64 - 1, 12345]),
        helper.make_tensor("t_uint32", T.UINT32, [2], [0, 2 ** 32 - 1]),
        helper.make_tensor("t_float16", T.FLOAT16, [4], [0.5, -1.0, 65504.0, 1e-4]),
        helper.make_tensor("t_bfloat16", T.BFLOAT16, [3], [1.0, -3.140625, 1e30]),
        helper.make_tensor("t_int8", T.INT8, [4], [-128, -1, 0, 127]),
        helper.make_tensor("t_uint8", T.UINT8, [3], [0, 128, 255]),
        helper.make_tensor("t_int16", T.INT16, [2], [-32768, 32767]),
        helper.make_tensor("t_bool", T.BOOL, [3], [True, False, True]),
        # (numpy_helper 1.12 cannot read COMPLEX64 from float_data, so it goes as raw_data)
        numpy_helper.from_array(np.array([1 + 2j, -3.5 - 0.5j], np.complex64), "t_complex64"),
        helper.make_tensor("t_string", T.STRING, [2], [b"hello", b"world"]),
        helper.make_tensor("t_empty_int64", T.INT64, [0], []),
    ]
    g = helper.make_graph([], "typed_fields", [], [], initializer=inits)
    return model(g)


def subgraphs():
    T = TensorProto
    x = helper.make_tensor_value_info("x", T.FLOAT, [2])
    cond = helper.make_tensor_value_info("cond", T.BOOL, [])
    y = helper.make_tensor_value_info("y", T.FLOAT, [2])

    def const_graph(name, value, named):
        t = numpy_helper.from_array(value, f"{name}_value" if named else "")
        node = helper.make_node("Constant", [], [f"{name}_out"], value=t)
        out = helper.make_tensor_value_info(f"{name}_out", T.FLOAT, list(value.shape))
        return helper.make_graph([node], name, [], [out])

    then_g = const_graph("then", RNG.standard_normal(2).astype(np.float32), True)
    else_g = const_graph("else", RNG.standard_normal(2).astype(np.float32), False)
    if_node = helper.make_node("If", ["cond"], ["y"], name="top_if", then_branch=then_g, else_branch=else_g)

    # Loop body: a Constant (typed float_data) and a nested If with its own Constants and an
    # initializer inside a subgraph.
    inner_then = const_graph("inner_then", RNG.standard_normal(3).astype(np.float32), True)
    inner_then.initializer.append(numpy_helper.from_array(np.arange(6, dtype=np.int64), "inner_init"))
    inner_else = const_graph("inner_else", RNG.standard_normal(3).astype(np.float32), False)
    body_nodes = [
        helper.make_node("Constant", [], ["step"], value=helper.make_tensor("", T.FLOAT, [2], [0.25, 0.5])),
        helper.make_node("Add", ["v_in", "step"], ["v_out"]),
        helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        helper.make_node("If", ["cond_in"], ["z"], name="nested_if", then_branch=inner_then, else_branch=inner_else),
    ]
    body = helper.make_graph(
        body_nodes, "body",
        [helper.make_tensor_value_info("i", T.INT64, []), helper.make_tensor_value_info("cond_in", T.BOOL, []),
         helper.make_tensor_value_info("v_in", T.FLOAT, [2])],
        [helper.make_tensor_value_info("cond_out", T.BOOL, []), helper.make_tensor_value_info("v_out", T.FLOAT, [2]),
         helper.make_tensor_value_info("z", T.FLOAT, [3])])
    loop = helper.make_node("Loop", ["trip", "cond", "x"], ["v_final", "zs"], name="loop1", body=body)
    cos = helper.make_node("ConstantOfShape", ["shape"], ["filled"],
                           value=helper.make_tensor("fill", T.FLOAT, [1], [7.0]))
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([1.5, -2.0], np.float32), "sparse_w"),
        numpy_helper.from_array(np.array([1, 5], np.int64), "sparse_w_idx"), [3, 3])
    g = helper.make_graph(
        [if_node, loop, cos], "subgraphs", [x, cond], [y],
        initializer=[numpy_helper.from_array(np.array(4, np.int64), "trip"),
                     numpy_helper.from_array(np.array([2, 2], np.int64), "shape"),
                     numpy_helper.from_array(RNG.standard_normal((4, 4)).astype(np.float32), "main_w")],
        sparse_initializer=[sparse])
    return model(g)


def weights(name):
    inits = [numpy_helper.from_array(RNG.standard_normal((16, 8)).astype(np.float32), f"{name}_a"),
             numpy_helper.from_array(RNG.standard_normal(300).astype(np.float16), f"{name}_b"),
             numpy_helper.from_array(np.arange(3, dtype=np.int32), f"{name}_small")]
    return model(helper.make_graph([], name, [], [], initializer=inits))


def external_gaps(outdir):
    """External data laid out as no onnx writer does but the format allows (onnx.proto:
    location, offset, length), written by hand: the data files mln must carry byte for
    byte, not only the tensors in them."""
    T = TensorProto
    data = os.path.join(outdir, "data")
    os.makedirs(data, exist_ok=True)
    a = RNG.standard_normal((4, 4)).astype(np.float32)
    b = RNG.standard_normal(10).astype(np.float16)
    c = np.array([-7, 0, 2 ** 40], np.int64)
    junk = RNG.integers(0, 256, size=200, dtype=np.uint8).tobytes()
    # gaps.bin: 8 bytes, a, 28 bytes, b, a 13-byte tail; rest.bin: c alone, no length given.
    with open(os.path.join(data, "gaps.bin"), "wb") as f:
        f.write(junk[:8] + a.tobytes() + junk[8:36] + b.tobytes() + junk[36:49])
    with open(os.path.join(data, "rest.bin"), "wb") as f:
        f.write(c.tobytes())

    def ext(name, dt, dims, entries):
        t = TensorProto()
        t.name, t.data_type = name, dt
        t.dims.extend(dims)
        t.data_location = T.EXTERNAL
        for k, v in entries:
            e = t.external_data.add()
            e.key, e.value = k, v
        return t

    inits = [ext("gap_a", T.FLOAT, [4, 4], [("location", "data/gaps.bin"), ("offset", "8"), ("length", "64")]),
             ext("gap_b", T.FLOAT16, [10], [("location", "data/gaps.bin"), ("offset", "100"), ("length", "20")]),
             ext("rest_c", T.INT64, [3], [("location", "data/rest.bin")]),
             numpy_helper.from_array(np.arange(4, dtype=np.int32), "inline_d")]
    m = model(helper.make_graph([], "external_gaps", [], [], initializer=inits))
    onnx.save_model(m, os.path.join(outdir, "model.onnx"))


def main():
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "external_one"), exist_ok=True)
    os.makedirs(os.path.join(out, "external_each"), exist_ok=True)
    onnx.save_model(dtypes_raw(), os.path.join(out, "dtypes_raw.onnx"))
    onnx.save_model(typed_fields(), os.path.join(out, "typed_fields.onnx"))
    onnx.save_model(subgraphs(), os.path.join(out, "subgraphs.onnx"))
    onnx.save_model(weights("inline"), os.path.join(out, "weights.onnx"))
    onnx.save_model(weights("one"), os.path.join(out, "external_one", "model.onnx"),
                    save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=64)
    onnx.save_model(weights("each"), os.path.join(out, "external_each", "model.onnx"),
                    save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
    external_gaps(os.path.join(out, "external_gaps"))


if __name__ == "__main__":
    main()
