/**
 * A minimal protobuf writer for the few TensorFlow messages a traced step needs: GraphDef, NodeDef,
 * AttrValue, TensorShapeProto and a SavedModel wrapping one MetaGraphDef (tag "serve", no variables).
 * Field numbers are those of tensorflow/core/framework/{graph,node_def,attr_value,tensor_shape}.proto and
 * tensorflow/core/protobuf/{saved_model,meta_graph}.proto. Only what `compile.ts` writes is supported.
 */

/** Protocol-buffer wire-format writer (varint, length-delimited, fixed32). */
export class ProtoWriter {
  readonly bytes: number[] = [];

  private varint(n: number): this {
    if (!Number.isInteger(n)) throw new RangeError(`varint needs an integer, got ${n}`);
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n; // negative int64: two's complement, 10 bytes
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
    return this;
  }

  private tag(field: number, wireType: 0 | 2 | 5): this {
    return this.varint((field << 3) | wireType);
  }

  int(field: number, n: number): this {
    return this.tag(field, 0).varint(n);
  }

  raw(field: number, data: ArrayLike<number>): this {
    this.tag(field, 2).varint(data.length);
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i]);
    return this;
  }

  str(field: number, s: string): this {
    return this.raw(field, Buffer.from(s, "utf8"));
  }

  msg(field: number, m: ProtoWriter): this {
    return this.raw(field, m.bytes);
  }

  float(field: number, x: number): this {
    this.tag(field, 5);
    const b = Buffer.alloc(4);
    b.writeFloatLE(x);
    for (const v of b) this.bytes.push(v);
    return this;
  }
}

/** TensorShapeProto: dim (2) { size (1) }. */
export function shapeProto(shape: readonly number[]): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of shape) w.msg(2, new ProtoWriter().int(1, d));
  return w;
}

/** The attribute kinds tfjs-node passes to ops (its binding's TF_ATTR_* codes, mapped by name). */
export type AttrKind = "string" | "int" | "float" | "bool" | "type" | "shape";

/**
 * AttrValue: list (1) { s 2, i 3, f 4, b 5, type 6, shape 7 }, s 2, i 3, f 4, b 5, type 6, shape 7.
 * A list attribute is a JS array (for "shape", an array of shapes).
 */
export function attrValue(kind: AttrKind, value: unknown): ProtoWriter {
  const w = new ProtoWriter();
  const isList = kind === "shape" ? Array.isArray(value) && Array.isArray((value as unknown[])[0]) : Array.isArray(value);
  const one = (x: ProtoWriter, v: unknown) => {
    switch (kind) {
      case "string": return x.str(2, String(v));
      case "int": return x.int(3, v as number);
      case "float": return x.float(4, v as number);
      case "bool": return x.int(5, v ? 1 : 0);
      case "type": return x.int(6, v as number);
      case "shape": return x.msg(7, shapeProto(v as number[]));
    }
  };
  if (!isList) return one(w, value);
  const list = new ProtoWriter();
  for (const v of value as unknown[]) one(list, v);
  return w.msg(1, list);
}

/** NodeDef: name 1, op 2, input 3 (repeated), attr 5 (map<string, AttrValue>). */
export function nodeDef(name: string, op: string, inputs: readonly string[], attrs: readonly [string, ProtoWriter][]): ProtoWriter {
  const w = new ProtoWriter().str(1, name).str(2, op);
  for (const i of inputs) w.str(3, i);
  for (const [k, v] of attrs) w.msg(5, new ProtoWriter().str(1, k).msg(2, v));
  return w;
}

/** A Placeholder node of a fixed shape. `dtype` is TensorFlow's DataType number (1 float, 3 int32, 10 bool). */
export function placeholderDef(name: string, dtype: number, shape: readonly number[]): ProtoWriter {
  return nodeDef(name, "Placeholder", [], [
    ["dtype", new ProtoWriter().int(6, dtype)],
    ["shape", new ProtoWriter().msg(7, shapeProto(shape))],
  ]);
}

/**
 * saved_model.pb bytes: SavedModel { saved_model_schema_version 1 = 1, meta_graphs 2 = MetaGraphDef {
 * meta_info_def 1 = { tags 4 = "serve" }, graph_def 2 = GraphDef { node 1…, versions 4 = { producer 1 } } } }.
 */
export function savedModelBytes(nodes: readonly ProtoWriter[], producer: number): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of nodes) graph.msg(1, n);
  graph.msg(4, new ProtoWriter().int(1, producer));
  const meta = new ProtoWriter().msg(1, new ProtoWriter().str(4, "serve")).msg(2, graph);
  return Uint8Array.from(new ProtoWriter().int(1, 1).msg(2, meta).bytes);
}
