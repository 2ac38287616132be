package io.headscan.format;

import static io.headscan.format.PyTorchException.Kind.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A pickle machine that understands exactly what a PyTorch state dict needs and refuses everything else
 * (docs/formats.md, "The pickle"). It never looks anything up by name: a GLOBAL outside a fixed allow-list
 * ({@code collections.OrderedDict}, the tensor rebuild functions, the storage types and dtypes) fails at once, naming
 * it, and REDUCE, NEWOBJ and BUILD only apply the allow-list's own Java meaning (an empty OrderedDict, a tensor
 * description, its {@code _metadata}). Opcodes outside the list fail too, naming the opcode and its position.
 *
 * <p>Every length is checked against the bytes left before anything is allocated; the stack, memo and the number of
 * open MARKs are bounded by the pickle's size (each costs at least one byte of it), nesting is bounded by
 * {@link #MAX_DEPTH}. The memo lets a pickle reuse one object many times, so a few hundred bytes can describe a graph
 * of 2^100 nodes (tuples that each hold the previous one twice); the machine never walks, prints, compares, hashes or
 * copies such a graph: its containers have identity equality and a {@code toString} that names only their kind and
 * size, only direct items are ever copied, and the fields of a persistent id that headscan does not use are never
 * looked at. What it keeps is counted in cells (an object, an item slot, a dimension of a tensor) and bounded by
 * {@link #CELLS_PER_BYTE} per byte of the pickle, whatever the memo shares.
 */
final class StrictUnpickler {

    static final int MAX_DEPTH = 100;
    /** Far above a state dict's needs (GPT-2 XL's has a few thousand memo entries and a stack of tens). */
    static final int MAX_MEMO = 1 << 18, MAX_STACK = 1 << 18;
    /** A state dict's pickle is a few hundred KB at most; the machine copies it onto the heap once. */
    static final long MAX_PICKLE = 16L << 20;
    /** PyTorch tensors have at most a few dozen dimensions; GPT-2's at most four. */
    static final int MAX_RANK = 64;
    /**
     * Cells the machine may keep per byte of the pickle (plus {@link #BASE_CELLS}): a state dict keeps under one (0.3 to
     * 0.7 in PyTorch's and headscan's files), the densest opcode sequences (empty tuples gathered by TUPLE3) under three.
     * Only a tensor entry charged for its shape goes beyond, and that is the copy this bound exists to stop.
     */
    static final int CELLS_PER_BYTE = 4, BASE_CELLS = 1 << 16;

    /**
     * A tuple (immutable). Identity equality and a one-line {@code toString}: a tuple may share its items with many
     * others through the memo, so nothing may walk it.
     */
    static final class Tuple {
        private final List<Object> items;
        private final int depth;

        Tuple(List<Object> items, int depth) {
            this.items = items;
            this.depth = depth;
        }

        List<Object> items() {
            return items;
        }

        int depth() {
            return depth;
        }

        @Override
        public String toString() {
            return describe(this);
        }
    }

    /** A Python list (or set) with the nesting depth it had when last changed; identity equality, like {@link Tuple}. */
    static final class PyList {
        final List<Object> items = new ArrayList<>();
        int depth = 1;

        @Override
        public String toString() {
            return describe(this);
        }
    }

    /** A Python dict or OrderedDict; keys are strings, numbers, booleans or None, never containers. */
    static final class PyDict {
        final Map<Object, Object> items = new LinkedHashMap<>();
        final boolean ordered;
        int depth = 1;
        boolean hasMetadata;

        PyDict(boolean ordered) {
            this.ordered = ordered;
        }

        @Override
        public String toString() {
            return describe(this);
        }
    }

    /** The Python None. */
    enum None { NONE }

    /** A name from the allow-list. */
    enum Global {
        ORDERED_DICT("collections", "OrderedDict"),
        REBUILD_TENSOR_V2("torch._utils", "_rebuild_tensor_v2"),
        REBUILD_TENSOR_V3("torch._utils", "_rebuild_tensor_v3"),
        REBUILD_PARAMETER("torch._utils", "_rebuild_parameter"),
        FLOAT_STORAGE("torch", "FloatStorage", DType.F32),
        HALF_STORAGE("torch", "HalfStorage", DType.F16),
        BFLOAT16_STORAGE("torch", "BFloat16Storage", DType.BF16),
        DOUBLE_STORAGE("torch", "DoubleStorage", DType.F64),
        BYTE_STORAGE("torch", "ByteStorage", DType.U8),
        CHAR_STORAGE("torch", "CharStorage", DType.I8),
        SHORT_STORAGE("torch", "ShortStorage", DType.I16),
        INT_STORAGE("torch", "IntStorage", DType.I32),
        LONG_STORAGE("torch", "LongStorage", DType.I64),
        BOOL_STORAGE("torch", "BoolStorage", DType.BOOL),
        UNTYPED_STORAGE("torch", "UntypedStorage", DType.U8),
        FLOAT32("torch", "float32", DType.F32),
        FLOAT16("torch", "float16", DType.F16),
        BFLOAT16("torch", "bfloat16", DType.BF16),
        FLOAT64("torch", "float64", DType.F64),
        UINT8("torch", "uint8", DType.U8),
        INT8("torch", "int8", DType.I8),
        INT16("torch", "int16", DType.I16),
        INT32("torch", "int32", DType.I32),
        INT64("torch", "int64", DType.I64),
        BOOL("torch", "bool", DType.BOOL);

        final String module, name;
        final DType dtype;

        Global(String module, String name) {
            this(module, name, null);
        }

        Global(String module, String name, DType dtype) {
            this.module = module;
            this.name = name;
            this.dtype = dtype;
        }

        boolean isStorage() {
            return name.endsWith("Storage");
        }

        boolean isDtype() {
            return dtype != null && !isStorage();
        }

        static Global find(String module, String name) {
            for (Global g : values()) if (g.module.equals(module) && g.name.equals(name)) return g;
            return null;
        }

        @Override
        public String toString() {
            return module + "." + name;
        }
    }

    /** A persistent id {@code ('storage', type, key, location, numel)}; the location is not kept (headscan maps every storage). */
    record StorageRef(Global type, String key, long numel) {}

    /** What {@code _rebuild_tensor_v2/v3} describe; the bytes are found later from the storage's record. */
    record TensorRef(StorageRef storage, DType dtype, long offset, long[] size, long[] stride) {}

    private static final Object MARK = new Object();
    private static final Set<Global> CALLABLE = Set.of(Global.ORDERED_DICT, Global.REBUILD_TENSOR_V2, Global.REBUILD_TENSOR_V3, Global.REBUILD_PARAMETER);

    private final byte[] p;
    private final java.nio.ByteBuffer le;
    private final long n;
    private final Path file;
    private final String record;
    private long pos;
    private final List<Object> stack = new ArrayList<>();
    private final List<Integer> marks = new ArrayList<>();
    /** The memo: keys below 2^16 (all a state dict uses) in an array, any others in a map; {@link #memoSize} counts both. */
    private Object[] memoArray = new Object[256];
    private final Map<Long, Object> memo = new HashMap<>();
    private int memoSize;
    /** Cells kept so far, and the most this pickle may keep. */
    private long cells;
    private final long maxCells;

    private StrictUnpickler(MemorySegment pickle, Path file, String record) {
        // one copy of the pickle's bytes (bounded by its record, a small part of the file): array reads run fast
        // even before the JIT compiles anything, which is most of the time a command opens one checkpoint
        this.p = pickle.toArray(ValueLayout.JAVA_BYTE);
        this.le = java.nio.ByteBuffer.wrap(p).order(ByteOrder.LITTLE_ENDIAN);
        this.n = p.length;
        this.file = file;
        this.record = record;
        this.maxCells = BASE_CELLS + CELLS_PER_BYTE * n;
    }

    /** Runs the pickle and returns its value. */
    static Object load(MemorySegment pickle, Path file, String record) {
        if (pickle.byteSize() > MAX_PICKLE) {
            throw new PyTorchException(PICKLE_LIMIT, file, record + ": a pickle of " + pickle.byteSize() + " bytes; headscan reads at most " + MAX_PICKLE
                    + " (a state dict's is a few hundred KB)");
        }
        return new StrictUnpickler(pickle, file, record).run();
    }

    private Object run() {
        while (true) {
            if (pos >= n) throw invalid("ends without STOP");
            long at = pos;
            int op = u8();
            switch (op) {
                case 0x80 -> { int v = u8(); if (v > 5) throw invalid("protocol " + v + " at byte " + at); }    // PROTO
                case 0x95 -> skip(8);                                            // FRAME: a length hint only
                case '.' -> {                                                     // STOP
                    if (stack.size() != 1 || !marks.isEmpty()) throw invalid("STOP at byte " + at + " with " + stack.size() + " values on the stack");
                    return stack.getFirst();
                }
                case 'c' -> push(global(line(), line(), at));                    // GLOBAL
                case 0x93 -> {                                                    // STACK_GLOBAL
                    Object name = pop(), module = pop();
                    if (!(module instanceof String m) || !(name instanceof String s)) throw invalid("STACK_GLOBAL at byte " + at + " without two strings");
                    push(global(m, s, at));
                }
                case 'q' -> put((long) u8(), at);                                 // BINPUT
                case 'r' -> put(u32(), at);                                       // LONG_BINPUT
                case 0x94 -> put(memoSize, at);                                   // MEMOIZE
                case 'h' -> push(memoGet(u8(), at));                              // BINGET
                case 'j' -> push(memoGet(u32(), at));                             // LONG_BINGET
                case '(' -> {                                                     // MARK
                    if (marks.size() >= MAX_DEPTH) throw limit("more than " + MAX_DEPTH + " nested MARKs at byte " + at);
                    marks.add(stack.size());
                    push(MARK);
                }
                case 't' -> push(tuple(popMark(at)));                             // TUPLE
                case ')' -> push(tuple(List.of()));                               // EMPTY_TUPLE
                case 0x85 -> push(tuple(popN(1, at)));                            // TUPLE1
                case 0x86 -> push(tuple(popN(2, at)));                            // TUPLE2
                case 0x87 -> push(tuple(popN(3, at)));                            // TUPLE3
                case ']' -> push(charged(new PyList(), 1, at));                   // EMPTY_LIST
                case '}' -> push(charged(new PyDict(false), 1, at));              // EMPTY_DICT
                case 0x8f -> push(charged(new PyList(), 1, at));                  // EMPTY_SET (kept as a list of members)
                case 'J' -> push((long) le.getInt((int) take(4)));                // BININT
                case 'K' -> push((long) u8());                                    // BININT1
                case 'M' -> push((long) (le.getShort((int) take(2)) & 0xffff));   // BININT2
                case 0x8a -> push(long1(u8(), at));                               // LONG1
                case 'G' -> push(java.nio.ByteBuffer.wrap(p, (int) take(8), 8).getDouble());   // BINFLOAT (big-endian)
                case 'X' -> push(text(u32(), at));                                // BINUNICODE
                case 0x8c -> push(text(u8(), at));                                // SHORT_BINUNICODE
                case 0x8d -> push(text(u64(at), at));                             // BINUNICODE8
                case 'U' -> push(latin1(u8(), at));                               // SHORT_BINSTRING
                case 'T' -> push(latin1(u32(), at));                              // BINSTRING
                case 'C' -> push(bytes(u8(), at));                                // SHORT_BINBYTES
                case 'B' -> push(bytes(u32(), at));                               // BINBYTES
                case 'N' -> push(None.NONE);
                case 0x88 -> push(Boolean.TRUE);                                  // NEWTRUE
                case 0x89 -> push(Boolean.FALSE);                                 // NEWFALSE
                case 'Q' -> push(persistent(pop(), at));                          // BINPERSID
                case 'R' -> { Object args = pop(); Object f = pop(); push(call(f, args, at)); }   // REDUCE
                case 0x81 -> { Object args = pop(); Object cls = pop(); push(call(cls, args, at)); }  // NEWOBJ
                case 'b' -> { Object state = pop(); build(top(at), state, at); }  // BUILD
                case 'a' -> { Object v = pop(); append(top(at), List.of(v), at); }  // APPEND
                case 'e' -> { List<Object> vs = popMark(at); append(top(at), vs, at); }  // APPENDS
                case 0x90 -> { List<Object> vs = popMark(at); append(top(at), vs, at); }  // ADDITEMS
                case 's' -> { Object v = pop(); Object k = pop(); setItems(top(at), List.of(k, v), at); }  // SETITEM
                case 'u' -> { List<Object> kv = popMark(at); setItems(top(at), kv, at); }  // SETITEMS
                default -> throw new PyTorchException(FORBIDDEN_OPCODE, file, record + ": opcode " + opName(op) + " at byte " + at
                        + " is not one a state dict uses; headscan runs only a fixed list of opcodes");
            }
        }
    }


    private Global global(String module, String name, long at) {
        Global g = Global.find(module, name);
        if (g == null) {
            throw new PyTorchException(FORBIDDEN_GLOBAL, file, record + ": global " + Printable.name(module) + "." + Printable.name(name) + " at byte " + at
                    + " is not on headscan's allow-list (a pickle that names it could run code; nothing was run)");
        }
        return g;
    }

    private Object call(Object f, Object args, long at) {
        if (!(f instanceof Global g) || !CALLABLE.contains(g)) {
            throw new PyTorchException(FORBIDDEN_CALL, file, record + ": call of " + describe(f) + " at byte " + at + " is not allowed; only "
                    + "collections.OrderedDict and torch._utils' tensor rebuild functions are");
        }
        if (!(args instanceof Tuple t)) throw invalid("call of " + g + " at byte " + at + " without an argument tuple");
        List<Object> a = t.items();
        return switch (g) {
            case ORDERED_DICT -> {
                if (!a.isEmpty()) throw invalid("OrderedDict called with arguments at byte " + at);
                yield charged(new PyDict(true), 1, at);
            }
            case REBUILD_TENSOR_V2 -> {
                if (a.size() < 6 || a.size() > 7) throw invalid(g + " at byte " + at + " takes 6 or 7 arguments, got " + a.size());
                StorageRef s = storageArg(a.get(0), g, at);
                if (s.type() == Global.UNTYPED_STORAGE) throw invalid(g + " at byte " + at + " with an untyped storage");
                yield tensor(s, s.type().dtype, a, g, at);
            }
            case REBUILD_TENSOR_V3 -> {
                if (a.size() < 7 || a.size() > 8) throw invalid(g + " at byte " + at + " takes 7 or 8 arguments, got " + a.size());
                if (!(a.get(6) instanceof Global d) || !d.isDtype()) throw invalid(g + " at byte " + at + ": argument 7 is not a dtype");
                yield tensor(storageArg(a.get(0), g, at), d.dtype, a, g, at);
            }
            case REBUILD_PARAMETER -> {
                if (a.size() != 3 || !(a.get(0) instanceof TensorRef r)) throw invalid(g + " at byte " + at + " without a tensor");
                yield r;
            }
            default -> throw new IllegalStateException();
        };
    }

    private TensorRef tensor(StorageRef s, DType dtype, List<Object> a, Global g, long at) {
        long offset = nonNegative(a.get(1), g + " storage offset", at);
        long[] size = ints(a.get(2), g + " size", at);
        long[] stride = ints(a.get(3), g + " stride", at);
        if (size.length != stride.length) throw invalid(g + " at byte " + at + ": size and stride have different lengths");
        charge(1 + 2L * size.length, at);
        return new TensorRef(s, dtype, offset, size, stride);
    }

    private StorageRef storageArg(Object o, Global g, long at) {
        if (!(o instanceof StorageRef s)) throw invalid(g + " at byte " + at + ": argument 1 is not a storage");
        return s;
    }

    private long[] ints(Object o, String what, long at) {
        if (!(o instanceof Tuple t)) throw invalid(what + " at byte " + at + " is not a tuple");
        if (t.items().size() > MAX_RANK) throw limit(what + " at byte " + at + " has " + t.items().size() + " dimensions; headscan reads at most " + MAX_RANK);
        long[] out = new long[t.items().size()];
        for (int i = 0; i < out.length; i++) out[i] = nonNegative(t.items().get(i), what, at);
        return out;
    }

    private long nonNegative(Object o, String what, long at) {
        if (!(o instanceof Long v) || v < 0) throw invalid(what + " at byte " + at + " is not a non-negative integer: " + describe(o));
        return v;
    }

    private Object persistent(Object pid, long at) {
        if (!(pid instanceof Tuple t) || t.items().size() != 5 || !"storage".equals(t.items().get(0))) {
            throw invalid("persistent id at byte " + at + " is not ('storage', type, key, location, numel): " + describe(pid));
        }
        List<Object> a = t.items();
        if (!(a.get(1) instanceof Global g) || !g.isStorage()) throw invalid("persistent id at byte " + at + ": " + describe(a.get(1)) + " is not a storage type");
        if (!(a.get(2) instanceof String key) || key.isEmpty() || key.contains("/") || key.contains("..")) {
            throw invalid("persistent id at byte " + at + ": storage key " + describe(a.get(2)) + " is not a plain name");
        }
        // the location ('cpu', 'cuda:0') is not used: only its type is checked, never its contents (it may be any graph)
        if (!(a.get(3) instanceof String)) throw invalid("persistent id at byte " + at + ": location is " + describe(a.get(3)) + ", not a string");
        return charged(new StorageRef(g, key, nonNegative(a.get(4), "storage size", at)), 1, at);
    }

    private void build(Object target, Object state, long at) {
        // OrderedDict.__reduce__ gives vars(od) as the state: a state dict carries {'_metadata': OrderedDict(...)}
        if (target instanceof PyDict d && d.ordered && state instanceof PyDict s && onlyMetadata(s)) {
            d.hasMetadata = !s.items.isEmpty();
            return;
        }
        throw new PyTorchException(FORBIDDEN_CALL, file, record + ": BUILD of " + describe(target) + " at byte " + at
                + " is not allowed; only an OrderedDict's _metadata is");
    }

    private static boolean onlyMetadata(PyDict state) {
        for (Object k : state.items.keySet()) if (!"_metadata".equals(k)) return false;
        return true;
    }

    private void append(Object target, List<Object> values, long at) {
        if (!(target instanceof PyList l)) throw invalid("APPEND to " + describe(target) + " at byte " + at);
        charge(values.size(), at);
        for (Object v : values) l.depth = Math.max(l.depth, 1 + depth(v));
        if (l.depth > MAX_DEPTH) throw limit("nesting deeper than " + MAX_DEPTH + " at byte " + at);
        l.items.addAll(values);
    }

    private void setItems(Object target, List<Object> kv, long at) {
        if (!(target instanceof PyDict d)) throw invalid("SETITEM on " + describe(target) + " at byte " + at);
        if (kv.size() % 2 != 0) throw invalid("SETITEMS at byte " + at + " with an odd number of values");
        for (int i = 0; i < kv.size(); i += 2) {
            Object k = kv.get(i);
            if (!(k instanceof String || k instanceof Long || k instanceof Boolean || k == None.NONE)) {
                throw invalid("dict key at byte " + at + " is " + describe(k) + "; only strings and numbers are accepted");
            }
            // a tensor entry of a state dict becomes a TensorInfo with its own copy of the shape
            charge(kv.get(i + 1) instanceof TensorRef t ? 2 + t.size().length : 2, at);
            d.depth = Math.max(d.depth, 1 + depth(kv.get(i + 1)));
            d.items.put(k, kv.get(i + 1));
        }
        if (d.depth > MAX_DEPTH) throw limit("nesting deeper than " + MAX_DEPTH + " at byte " + at);
    }

    private Tuple tuple(List<Object> items) {
        int depth = 1;
        for (Object o : items) depth = Math.max(depth, 1 + depth(o));
        if (depth > MAX_DEPTH) throw limit("nesting deeper than " + MAX_DEPTH + " at byte " + pos);
        charge(1 + items.size(), pos);
        // the items are references: a tuple copies its own slots, never what they point to
        return new Tuple(Collections.unmodifiableList(new ArrayList<>(items)), depth);
    }

    /** Counts cells that the machine keeps, refusing the pickle once they exceed its budget. */
    private void charge(long k, long at) {
        cells += k;
        if (cells > maxCells) {
            throw limit("it builds more than " + maxCells + " cells (objects, items, dimensions) by byte " + at + " of " + n
                    + "; a state dict needs far fewer per byte");
        }
    }

    private <T> T charged(T o, long k, long at) {
        charge(k, at);
        return o;
    }

    private static int depth(Object o) {
        // instanceof, not a pattern switch: this runs for every tuple, and a type switch's bootstrap costs milliseconds
        // on the first open of a JVM
        if (o instanceof Tuple t) return t.depth();
        if (o instanceof PyList l) return l.depth;
        if (o instanceof PyDict d) return d.depth;
        return 0;
    }

    private Object memoGet(long key, long at) {
        Object v = key >= 0 && key < memoArray.length ? memoArray[(int) key] : key >= 1 << 16 ? memo.get(key) : null;
        if (v == null) throw invalid("memo key " + key + " read at byte " + at + " was never stored");
        return v;
    }

    private void push(Object o) {
        if (stack.size() >= MAX_STACK) throw limit("more than " + MAX_STACK + " values on the stack at byte " + pos);
        charge(1, pos);
        stack.add(o);
    }

    private void put(long key, long at) {
        Object v = top(at);
        if (key >= 0 && key < 1 << 16) {
            int k = (int) key;
            if (k >= memoArray.length) memoArray = java.util.Arrays.copyOf(memoArray, Math.max(k + 1, 2 * memoArray.length));
            if (memoArray[k] == null) count(at);
            charge(1, at);
            memoArray[k] = v;
            return;
        }
        if (!memo.containsKey(key)) count(at);
        charge(1, at);
        memo.put(key, v);
    }

    private void count(long at) {
        if (memoSize >= MAX_MEMO) throw limit("more than " + MAX_MEMO + " memo entries at byte " + at);
        memoSize++;
    }

    private Object pop() {
        if (stack.isEmpty() || stack.getLast() == MARK) throw invalid("stack underflow at byte " + (pos - 1));
        return stack.removeLast();
    }

    private Object top(long at) {
        if (stack.isEmpty() || stack.getLast() == MARK) throw invalid("empty stack at byte " + at);
        return stack.getLast();
    }

    private List<Object> popN(int k, long at) {
        if (stack.size() - (marks.isEmpty() ? 0 : marks.getLast() + 1) < k) throw invalid("stack underflow at byte " + at);
        List<Object> sub = stack.subList(stack.size() - k, stack.size());
        List<Object> out = new ArrayList<>(sub);
        sub.clear();
        return out;
    }

    private List<Object> popMark(long at) {
        if (marks.isEmpty()) throw invalid("no MARK for the opcode at byte " + at);
        int m = marks.removeLast();
        List<Object> sub = stack.subList(m + 1, stack.size());
        List<Object> out = new ArrayList<>(sub);
        stack.subList(m, stack.size()).clear();
        return out;
    }

    private int u8() {
        return p[(int) take(1)] & 0xff;
    }

    private long u32() {
        return le.getInt((int) take(4)) & 0xffffffffL;
    }

    private long u64(long at) {
        long v = le.getLong((int) take(8));
        if (v < 0) throw limit("length " + Long.toUnsignedString(v) + " at byte " + at);
        return v;
    }

    /** Claims k bytes and returns where they start; never past the end. */
    private long take(long k) {
        if (k > n - pos) throw invalid("needs " + k + " bytes at byte " + pos + " but only " + (n - pos) + " remain");
        long at = pos;
        pos += k;
        return at;
    }

    private void skip(long k) {
        take(k);
    }

    private String line() {
        long start = pos;
        long limit = Math.min(n, pos + 256);
        while (pos < limit) {
            if (p[(int) pos] == '\n') {
                String s = new String(p, (int) start, (int) (pos - start), StandardCharsets.US_ASCII);
                pos++;
                return s;
            }
            pos++;
        }
        throw invalid("GLOBAL at byte " + (start - 1) + " has no name line of at most 256 bytes");
    }

    private Object long1(int k, long at) {
        int at0 = (int) take(k);
        byte[] b = java.util.Arrays.copyOfRange(p, at0, at0 + k);
        if (k == 0) return 0L;
        byte[] be = new byte[k];
        for (int i = 0; i < k; i++) be[i] = b[k - 1 - i];
        BigInteger v = new BigInteger(be);
        if (v.bitLength() >= 64) throw invalid("integer of " + k + " bytes at byte " + at + " is out of range");
        return v.longValue();
    }

    private String text(long len, long at) {
        byte[] b = rawBytes(len, at);
        boolean ascii = true;
        for (byte x : b) ascii &= x >= 0;
        if (ascii) return new String(b, StandardCharsets.US_ASCII);   // names, keys, 'storage', 'cpu': the usual case
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw invalid("string at byte " + at + " is not valid UTF-8");
        }
    }

    private String latin1(long len, long at) {
        return new String(rawBytes(len, at), StandardCharsets.ISO_8859_1);
    }

    private byte[] bytes(long len, long at) {
        return rawBytes(len, at);
    }

    private byte[] rawBytes(long len, long at) {
        if (len > n - pos || len > Integer.MAX_VALUE - 8) {
            throw limit("a length of " + len + " bytes at byte " + at + " runs past the end of the " + n + "-byte pickle");
        }
        int from = (int) take(len);
        return java.util.Arrays.copyOfRange(p, from, from + (int) len);
    }

    private PyTorchException invalid(String why) {
        return new PyTorchException(INVALID_PICKLE, file, record + ": " + why);
    }

    private PyTorchException limit(String why) {
        return new PyTorchException(PICKLE_LIMIT, file, record + ": " + why);
    }

    /** A few words on what a value is: its kind and size, never its contents beyond a short string's first characters. */
    static String describe(Object o) {
        return switch (o) {
            case null -> "nothing";
            case Global g -> g.toString();
            case String s -> "the string '" + Printable.name(s.length() > 40 ? s.substring(0, 40) + "..." : s) + "'";
            case Long l -> "the integer " + l;
            case Tuple t -> "a tuple of " + t.items().size();
            case PyList l -> "a list of " + l.items.size();
            case PyDict d -> d.ordered ? "an OrderedDict" : "a dict";
            case TensorRef t -> "a tensor";
            case StorageRef s -> "a storage";
            case None x -> "None";
            default -> "a " + o.getClass().getSimpleName();
        };
    }


    private static String opName(int op) {
        String name = switch (op) {
            case 'i' -> "INST";
            case 'o' -> "OBJ";
            case 0x82 -> "EXT1";
            case 0x83 -> "EXT2";
            case 0x84 -> "EXT4";
            case 'P' -> "PERSID";
            case 'S' -> "STRING";
            case 'V' -> "UNICODE";
            case 'I' -> "INT";
            case 'L' -> "LONG";
            case 'F' -> "FLOAT";
            case 'p' -> "PUT";
            case 'g' -> "GET";
            case 'l' -> "LIST";
            case 'd' -> "DICT";
            case '0' -> "POP";
            case '1' -> "POP_MARK";
            case '2' -> "DUP";
            case 0x8b -> "LONG4";
            case 0x91 -> "FROZENSET";
            case 0x92 -> "NEWOBJ_EX";
            case 0x96 -> "BYTEARRAY8";
            case 0x97 -> "NEXT_BUFFER";
            case 0x98 -> "READONLY_BUFFER";
            case 0x8e -> "BINBYTES8";
            default -> null;
        };
        String hex = String.format(java.util.Locale.ROOT, "0x%02x", op);
        return name == null ? hex : name + " (" + hex + ")";
    }
}
