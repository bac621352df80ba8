// ggml_fixture: build and inspect GGUF test fixtures with the REAL ggml library.
//
//   ggml_fixture gen  LIBGGML TFLITE OUTDIR   write all_types.gguf, real_f16.gguf, real_q8_0.gguf
//   ggml_fixture dump LIBGGML FILE.gguf       print header facts + tensor table as JSON
//
// LIBGGML is libggml-base.so from the npm package @node-llama-cpp/linux-x64 (see
// scripts/fetch-fixtures).  It is dlopen()ed rather than linked so the build never
// depends on ggml: only the test run does.  No ggml headers ship with that package,
// so the handful of prototypes used are declared below (from ggml/include/ggml.h and
// ggml/include/gguf.h in ggml-org/llama.cpp).  ggml_type ids are ints here; names
// come from ggml_type_name() so the output follows the shipped build.
//
// The weights are the FLOAT16 buffers of a real TFLite model (mediapipe
// hand_landmark_full.tflite), read with the FlatBuffers low-level API (no schema).
// Output is deterministic: same library + same model -> same bytes.
#include <flatbuffers/flatbuffers.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

// ---------------------------------------------------------------------------
// ggml / gguf ABI subset
// ---------------------------------------------------------------------------
extern "C" {
struct ggml_context;
struct ggml_tensor;
struct gguf_context;
typedef uint16_t ggml_fp16_t;
struct ggml_init_params { size_t mem_size; void * mem_buffer; bool no_alloc; };
struct gguf_init_params { bool no_alloc; struct ggml_context ** ctx; };
}

// gguf_type values (GGUF spec; only those passed to gguf_set_arr_data are needed).
enum { GGUF_TYPE_INT32 = 5 };

// ggml_type ids used directly.  Everything else is discovered by iterating 0..COUNT-1.
enum { T_F32 = 0, T_F16 = 1, T_Q8_0 = 8, T_I8 = 24, T_I16 = 25, T_I32 = 26, T_I64 = 27,
       T_F64 = 28, T_BF16 = 30 };
// ggml_type_name()/ggml_blck_size() index a table without bounds checks, so the
// enum size of the shipped build (GGML_TYPE_COUNT) must be known up front.
constexpr int GGML_TYPE_COUNT = 43;

// Function pointers resolved from the dlopen()ed library.
struct Ggml {
    ggml_context * (*init)(ggml_init_params);
    void (*free)(ggml_context *);
    size_t (*tensor_overhead)();
    ggml_tensor * (*new_tensor)(ggml_context *, int type, int n_dims, const int64_t * ne);
    ggml_tensor * (*set_name)(ggml_tensor *, const char *);
    const char * (*type_name)(int);
    int64_t (*blck_size)(int);
    size_t (*type_size)(int);
    size_t (*row_size)(int, int64_t ne);
    bool (*quantize_requires_imatrix)(int);
    void (*quantize_init)(int);
    size_t (*quantize_chunk)(int, const float * src, void * dst, int64_t start, int64_t nrows,
                             int64_t n_per_row, const float * imatrix);
    void (*fp16_to_fp32_row)(const ggml_fp16_t *, float *, int64_t);

    gguf_context * (*g_init_empty)();
    gguf_context * (*g_init_from_file)(const char *, gguf_init_params);
    void (*g_free)(gguf_context *);
    uint32_t (*g_get_version)(const gguf_context *);
    size_t (*g_get_alignment)(const gguf_context *);
    size_t (*g_get_data_offset)(const gguf_context *);
    int64_t (*g_get_n_kv)(const gguf_context *);
    int64_t (*g_get_n_tensors)(const gguf_context *);
    const char * (*g_get_tensor_name)(const gguf_context *, int64_t);
    int (*g_get_tensor_type)(const gguf_context *, int64_t);
    size_t (*g_get_tensor_offset)(const gguf_context *, int64_t);
    size_t (*g_get_tensor_size)(const gguf_context *, int64_t);
    void (*g_set_u8)(gguf_context *, const char *, uint8_t);
    void (*g_set_i8)(gguf_context *, const char *, int8_t);
    void (*g_set_u16)(gguf_context *, const char *, uint16_t);
    void (*g_set_i16)(gguf_context *, const char *, int16_t);
    void (*g_set_u32)(gguf_context *, const char *, uint32_t);
    void (*g_set_i32)(gguf_context *, const char *, int32_t);
    void (*g_set_f32)(gguf_context *, const char *, float);
    void (*g_set_u64)(gguf_context *, const char *, uint64_t);
    void (*g_set_i64)(gguf_context *, const char *, int64_t);
    void (*g_set_f64)(gguf_context *, const char *, double);
    void (*g_set_bool)(gguf_context *, const char *, bool);
    void (*g_set_str)(gguf_context *, const char *, const char *);
    void (*g_set_arr_data)(gguf_context *, const char *, int gguf_type, const void *, size_t n);
    void (*g_set_arr_str)(gguf_context *, const char *, const char **, size_t n);
    void (*g_add_tensor)(gguf_context *, const ggml_tensor *);
    void (*g_set_tensor_data)(gguf_context *, const char *, const void *);
    bool (*g_write_to_file)(const gguf_context *, const char *, bool only_meta);

    void * handle = nullptr;
};

[[noreturn]] static void die(const std::string & msg) {
    fprintf(stderr, "ggml_fixture: %s\n", msg.c_str());
    exit(1);
}

template <typename F> static void resolve(void * h, F & fn, const char * name) {
    void * p = dlsym(h, name);
    if (!p) die(std::string("missing symbol ") + name);
    fn = reinterpret_cast<F>(p);
}

static Ggml load_ggml(const char * path) {
    Ggml g{};
    g.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!g.handle) die(std::string("dlopen: ") + dlerror());
    void * h = g.handle;
    resolve(h, g.init, "ggml_init");
    resolve(h, g.free, "ggml_free");
    resolve(h, g.tensor_overhead, "ggml_tensor_overhead");
    resolve(h, g.new_tensor, "ggml_new_tensor");
    resolve(h, g.set_name, "ggml_set_name");
    resolve(h, g.type_name, "ggml_type_name");
    resolve(h, g.blck_size, "ggml_blck_size");
    resolve(h, g.type_size, "ggml_type_size");
    resolve(h, g.row_size, "ggml_row_size");
    resolve(h, g.quantize_requires_imatrix, "ggml_quantize_requires_imatrix");
    resolve(h, g.quantize_init, "ggml_quantize_init");
    resolve(h, g.quantize_chunk, "ggml_quantize_chunk");
    resolve(h, g.fp16_to_fp32_row, "ggml_fp16_to_fp32_row");
    resolve(h, g.g_init_empty, "gguf_init_empty");
    resolve(h, g.g_init_from_file, "gguf_init_from_file");
    resolve(h, g.g_free, "gguf_free");
    resolve(h, g.g_get_version, "gguf_get_version");
    resolve(h, g.g_get_alignment, "gguf_get_alignment");
    resolve(h, g.g_get_data_offset, "gguf_get_data_offset");
    resolve(h, g.g_get_n_kv, "gguf_get_n_kv");
    resolve(h, g.g_get_n_tensors, "gguf_get_n_tensors");
    resolve(h, g.g_get_tensor_name, "gguf_get_tensor_name");
    resolve(h, g.g_get_tensor_type, "gguf_get_tensor_type");
    resolve(h, g.g_get_tensor_offset, "gguf_get_tensor_offset");
    resolve(h, g.g_get_tensor_size, "gguf_get_tensor_size");
    resolve(h, g.g_set_u8, "gguf_set_val_u8");
    resolve(h, g.g_set_i8, "gguf_set_val_i8");
    resolve(h, g.g_set_u16, "gguf_set_val_u16");
    resolve(h, g.g_set_i16, "gguf_set_val_i16");
    resolve(h, g.g_set_u32, "gguf_set_val_u32");
    resolve(h, g.g_set_i32, "gguf_set_val_i32");
    resolve(h, g.g_set_f32, "gguf_set_val_f32");
    resolve(h, g.g_set_u64, "gguf_set_val_u64");
    resolve(h, g.g_set_i64, "gguf_set_val_i64");
    resolve(h, g.g_set_f64, "gguf_set_val_f64");
    resolve(h, g.g_set_bool, "gguf_set_val_bool");
    resolve(h, g.g_set_str, "gguf_set_val_str");
    resolve(h, g.g_set_arr_data, "gguf_set_arr_data");
    resolve(h, g.g_set_arr_str, "gguf_set_arr_str");
    resolve(h, g.g_add_tensor, "gguf_add_tensor");
    resolve(h, g.g_set_tensor_data, "gguf_set_tensor_data");
    resolve(h, g.g_write_to_file, "gguf_write_to_file");
    return g;
}

// ---------------------------------------------------------------------------
// TFLite buffers via the FlatBuffers low-level API
// ---------------------------------------------------------------------------
using Bytes = std::vector<uint8_t>;

static Bytes read_file(const char * path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) die(std::string("cannot open ") + path);
    return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// TFLite schema facts used (schema.fbs): Model.buffers is field id 4 -> vtable
// offset 4 + 2*4 = 12, a [Buffer]; Buffer.data is field id 0 -> vtable offset 4, a [ubyte].
constexpr flatbuffers::voffset_t MODEL_BUFFERS = 12;
constexpr flatbuffers::voffset_t BUFFER_DATA = 4;

// Returns (buffer index, bytes) for every TFLite buffer, empty ones included.
static std::vector<std::pair<size_t, Bytes>> tflite_buffers(const Bytes & file) {
    using TableVec = flatbuffers::Vector<flatbuffers::Offset<flatbuffers::Table>>;
    using ByteVec = flatbuffers::Vector<uint8_t>;
    flatbuffers::Verifier v(file.data(), file.size());
    // Check the root offset itself before following it.
    if (file.size() < sizeof(flatbuffers::uoffset_t) || !v.Verify<flatbuffers::uoffset_t>(0))
        die("tflite: truncated file");
    auto * model = flatbuffers::GetRoot<flatbuffers::Table>(file.data());
    if (!model->VerifyTableStart(v) || !model->VerifyOffset(v, MODEL_BUFFERS))
        die("tflite: bad Model table");
    auto * bufs = model->GetPointer<const TableVec *>(MODEL_BUFFERS);
    if (!bufs || !v.VerifyVector(bufs)) die("tflite: bad Model.buffers");

    std::vector<std::pair<size_t, Bytes>> out;
    for (flatbuffers::uoffset_t i = 0; i < bufs->size(); ++i) {
        const flatbuffers::Table * b = bufs->Get(i);
        if (!b->VerifyTableStart(v) || !b->VerifyOffset(v, BUFFER_DATA)) die("tflite: bad Buffer");
        auto * data = b->GetPointer<const ByteVec *>(BUFFER_DATA);
        if (data && !v.VerifyVector(data)) die("tflite: bad Buffer.data");
        v.EndTable();
        out.emplace_back(i, data ? Bytes(data->begin(), data->end()) : Bytes());
    }
    v.EndTable();
    return out;
}

// ---------------------------------------------------------------------------
// gen
// ---------------------------------------------------------------------------
struct Weight {
    size_t index;              // TFLite buffer index, used in the tensor name
    Bytes f16;                 // raw little-endian IEEE half bytes
    std::vector<float> f32;    // same values, widened by ggml itself
};

// Collects tensors for one GGUF file.  gguf_add_tensor copies the tensor's metadata,
// but gguf_set_tensor_data only stores a pointer, so the bytes must stay alive (and
// not move) until gguf_write_to_file: a deque of vectors guarantees that.
struct Writer {
    const Ggml & g;
    gguf_context * gctx;
    ggml_context * mctx;
    std::deque<Bytes> data;

    Writer(const Ggml & g_, size_t max_tensors) : g(g_) {
        gctx = g.g_init_empty();
        // no_alloc: the ggml context only holds tensor descriptors; data lives in `data`.
        ggml_init_params p = { g.tensor_overhead() * (max_tensors + 4), nullptr, true };
        mctx = g.init(p);
        if (!gctx || !mctx) die("ggml/gguf init failed");
    }
    ~Writer() { g.free(mctx); g.g_free(gctx); }

    void add(const std::string & name, int type, std::vector<int64_t> ne, Bytes bytes) {
        ggml_tensor * t = g.new_tensor(mctx, type, (int) ne.size(), ne.data());
        g.set_name(t, name.c_str());
        size_t want = g.row_size(type, ne[0]);
        for (size_t i = 1; i < ne.size(); ++i) want *= (size_t) ne[i];
        if (bytes.size() != want) die(name + ": data size mismatch");
        g.g_add_tensor(gctx, t);
        data.push_back(std::move(bytes));
        g.g_set_tensor_data(gctx, name.c_str(), data.back().data());
    }

    // gguf_set_val_u32(ctx, "general.alignment", N) only records the KV: the writer's
    // padding comes from ctx->alignment, which ggml sets solely when *reading* a file.
    // So write the KVs as a meta-only file and read it back before adding tensors;
    // otherwise the header claims N but tensors are padded to 32 and ggml's own
    // reader rejects the file ("tensor ... has offset 32, expected 64").
    void adopt_alignment_kv(const std::string & tmp_path) {
        if (!data.empty()) die("adopt_alignment_kv must precede add()");
        if (!g.g_write_to_file(gctx, tmp_path.c_str(), true)) die("cannot write " + tmp_path);
        g.g_free(gctx);
        gguf_init_params p = { true, nullptr };
        gctx = g.g_init_from_file(tmp_path.c_str(), p);
        remove(tmp_path.c_str());
        if (!gctx) die("cannot reload " + tmp_path);
    }

    void write(const std::string & path) {
        if (!g.g_write_to_file(gctx, path.c_str(), false)) die("cannot write " + path);
    }
};

// Shape used for a real weight of n elements: rows of 32 when possible, so the F16
// and Q8_0 files describe the same tensor with the same shape.
static std::vector<int64_t> weight_shape(int64_t n) {
    if (n % 32 == 0) return {32, n / 32};
    return {n};
}

static Bytes quantize(const Ggml & g, int type, const float * src, int64_t nrows, int64_t n_per_row) {
    Bytes out(g.row_size(type, n_per_row) * (size_t) nrows);
    // Builds the IQ lookup grids (a no-op for other types).  This dominates the run
    // time: several seconds each for iq2_s and iq1_m.
    g.quantize_init(type);
    size_t n = g.quantize_chunk(type, src, out.data(), 0, nrows, n_per_row, nullptr);
    if (n != out.size()) die(std::string("quantize size mismatch for ") + g.type_name(type));
    return out;
}

// q8_1 and q8_K are activation formats: ggml_quantize_chunk has no case for them and
// aborts (GGML_ASSERT(result == nrows * row_size)), but the reference row quantizers
// quantize_row_q8_1_ref / quantize_row_q8_K_ref are exported, so use those.
static bool quantize_via_ref(const Ggml & g, int type, const float * src, int64_t n, Bytes & out) {
    std::string name = g.type_name(type);
    if (name != "q8_1" && name != "q8_K") return false;
    std::string sym = "quantize_row_" + name + "_ref";
    using RefFn = void (*)(const float *, void *, int64_t);
    auto fn = reinterpret_cast<RefFn>(dlsym(g.handle, sym.c_str()));
    if (!fn) die("missing symbol " + sym);
    out.assign(g.row_size(type, n), 0);
    fn(src, out.data(), n);
    return true;
}

template <typename T> static Bytes pack(const std::vector<T> & v) {
    Bytes b(v.size() * sizeof(T));
    memcpy(b.data(), v.data(), b.size());
    return b;
}

template <typename I> static Bytes to_int(const std::vector<float> & w) {
    // Scale first so small weights do not all round to 0; clamp to the type's range.
    std::vector<I> v(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
        double x = std::round((double) w[i] * 100.0);
        x = std::min(std::max(x, (double) std::numeric_limits<I>::min()), (double) std::numeric_limits<I>::max());
        v[i] = (I) x;
    }
    return pack(v);
}

static void gen_all_types(const Ggml & g, const std::vector<Weight> & ws, const std::string & path) {
    // One common f32 source for every type: the largest real weight buffer (a conv
    // kernel, so a realistic value distribution), first NE0*NROWS values.
    constexpr int64_t NE0 = 512, NROWS = 4, N = NE0 * NROWS;  // 512: multiple of every block size
    const Weight * src = &ws[0];
    for (const Weight & w : ws)
        if (w.f32.size() > src->f32.size()) src = &w;
    if ((int64_t) src->f32.size() < N) die("model has no weight with enough elements");
    std::vector<float> f(src->f32.begin(), src->f32.begin() + N);
    for (float x : f)
        if (!std::isfinite(x)) die("non-finite source weight");

    Writer w(g, GGML_TYPE_COUNT);
    gguf_context * c = w.gctx;
    g.g_set_str(c, "general.architecture", "mln-test");
    g.g_set_str(c, "general.name", "mln all_types fixture");
    g.g_set_u8(c, "test.u8", 200);
    g.g_set_i8(c, "test.i8", -100);
    g.g_set_u16(c, "test.u16", 60000);
    g.g_set_i16(c, "test.i16", -30000);
    g.g_set_u32(c, "test.u32", 4000000000u);
    g.g_set_i32(c, "test.i32", -2000000000);
    g.g_set_f32(c, "test.f32", 0.5f);
    g.g_set_bool(c, "test.bool", true);
    g.g_set_str(c, "test.str", "hello \"gguf\"\n\xc3\xa9");
    const int32_t ai[] = {1, -2, 3, -4, 2147483647};
    g.g_set_arr_data(c, "test.arr_i32", GGUF_TYPE_INT32, ai, 5);
    const char * as[] = {"alpha", "", "gamma"};
    g.g_set_arr_str(c, "test.arr_str", as, 3);
    g.g_set_u64(c, "test.u64", 18000000000000000000ull);
    g.g_set_i64(c, "test.i64", -9000000000000000000ll);
    g.g_set_f64(c, "test.f64", 3.141592653589793);

    for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
        if (g.blck_size(t) == 0) continue;               // retired id (Q4_2, Q4_3, Q4_0_4_4, ...)
        if (g.quantize_requires_imatrix(t)) continue;    // would need calibration data
        std::string name = std::string("t.") + g.type_name(t);
        Bytes b;
        switch (t) {
            case T_F32: b = pack(f); break;
            case T_F64: b = pack(std::vector<double>(f.begin(), f.end())); break;
            case T_I8: b = to_int<int8_t>(f); break;
            case T_I16: b = to_int<int16_t>(f); break;
            case T_I32: b = to_int<int32_t>(f); break;
            case T_I64: b = to_int<int64_t>(f); break;
            default:  // f16, bf16 and all block-quantized types go through ggml's own code
                if (!quantize_via_ref(g, t, f.data(), N, b)) b = quantize(g, t, f.data(), NROWS, NE0);
        }
        w.add(name, t, {NE0, NROWS}, std::move(b));
    }
    w.write(path);
}

static void gen_real_f16(const Ggml & g, const std::vector<Weight> & ws, const std::string & path) {
    Writer w(g, ws.size());
    g.g_set_str(w.gctx, "general.architecture", "mln-test");
    // Must precede gguf_add_tensor: each tensor's offset is padded with the alignment
    // in force when it is added.
    g.g_set_u32(w.gctx, "general.alignment", 64);
    w.adopt_alignment_kv(path + ".meta.tmp");
    for (const Weight & x : ws)
        w.add("w." + std::to_string(x.index), T_F16, weight_shape((int64_t) x.f32.size()), x.f16);
    w.write(path);
}

static void gen_real_q8_0(const Ggml & g, const std::vector<Weight> & ws, const std::string & path) {
    Writer w(g, ws.size());
    g.g_set_str(w.gctx, "general.architecture", "mln-test");
    for (const Weight & x : ws) {
        int64_t n = (int64_t) x.f32.size();
        if (n < 32 || n % 32 != 0) continue;
        w.add("w." + std::to_string(x.index), T_Q8_0, weight_shape(n), quantize(g, T_Q8_0, x.f32.data(), n / 32, 32));
    }
    w.write(path);
}

static int cmd_gen(const char * lib, const char * tflite, const std::string & outdir) {
    Ggml g = load_ggml(lib);
    Bytes file = read_file(tflite);
    std::vector<Weight> ws;
    for (auto & [idx, bytes] : tflite_buffers(file)) {
        // Empty buffers belong to activations; odd sizes cannot be f16.
        if (bytes.empty() || bytes.size() % 2 != 0) continue;
        Weight w{idx, std::move(bytes), {}};
        w.f32.resize(w.f16.size() / 2);
        std::vector<ggml_fp16_t> h(w.f32.size());
        memcpy(h.data(), w.f16.data(), w.f16.size());  // TFLite data is not 2-byte aligned
        g.fp16_to_fp32_row(h.data(), w.f32.data(), (int64_t) h.size());
        ws.push_back(std::move(w));
    }
    if (ws.empty()) die(std::string(tflite) + ": no f16 weight buffers");
    gen_all_types(g, ws, outdir + "/all_types.gguf");
    gen_real_f16(g, ws, outdir + "/real_f16.gguf");
    gen_real_q8_0(g, ws, outdir + "/real_q8_0.gguf");
    return 0;
}

// ---------------------------------------------------------------------------
// dump
// ---------------------------------------------------------------------------
static std::string json_str(const char * s) {
    std::string o = "\"";
    for (const unsigned char * p = (const unsigned char *) s; *p; ++p) {
        if (*p == '"' || *p == '\\') { o += '\\'; o += (char) *p; }
        else if (*p < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", *p); o += b; }
        else o += (char) *p;
    }
    return o + "\"";
}

static int cmd_dump(const char * lib, const char * path) {
    Ggml g = load_ggml(lib);
    gguf_init_params p = { true, nullptr };
    gguf_context * c = g.g_init_from_file(path, p);
    if (!c) { fprintf(stderr, "load failed\n"); return 1; }
    printf("{\"version\":%u,\"alignment\":%zu,\"data_offset\":%zu,\"n_kv\":%lld,\"tensors\":[",
           g.g_get_version(c), g.g_get_alignment(c), g.g_get_data_offset(c), (long long) g.g_get_n_kv(c));
    int64_t n = g.g_get_n_tensors(c);
    for (int64_t i = 0; i < n; ++i) {
        printf("%s{\"name\":%s,\"type\":%d,\"offset\":%zu,\"size\":%zu}", i ? "," : "",
               json_str(g.g_get_tensor_name(c, i)).c_str(), g.g_get_tensor_type(c, i),
               g.g_get_tensor_offset(c, i), g.g_get_tensor_size(c, i));
    }
    printf("]}\n");
    g.g_free(c);
    return 0;
}

int main(int argc, char ** argv) {
    std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "gen" && argc == 5) return cmd_gen(argv[2], argv[3], argv[4]);
    if (cmd == "dump" && argc == 4) return cmd_dump(argv[2], argv[3]);
    fprintf(stderr,
            "usage: ggml_fixture gen LIBGGML TFLITE OUTDIR\n"
            "       ggml_fixture dump LIBGGML FILE.gguf\n");
    return 2;
}
