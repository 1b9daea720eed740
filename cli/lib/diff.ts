import type { Colors } from "./colors.ts";

export interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
  old?: unknown;
  oldValue?: unknown;
}

/**
 * Renders RFC 6902 JSON Patch operations as coloured lines: add green, remove red, replace yellow,
 * move/copy/test cyan. Values are shown as compact JSON, clipped so a huge blob stays readable.
 */
export function renderPatch(ops: PatchOp[], c: Colors): string[] {
  return ops.map((op) => {
    const old = "old" in op ? op.old : "oldValue" in op ? op.oldValue : undefined;
    switch (op.op) {
      case "add":
        return c.green(`+ ${op.path}: ${show(op.value)}`);
      case "remove":
        return c.red(`- ${op.path}${old !== undefined ? `: ${show(old)}` : ""}`);
      case "replace":
        return c.yellow(`~ ${op.path}: ${old !== undefined ? `${show(old)} → ` : ""}${show(op.value)}`);
      case "move":
        return c.cyan(`> ${op.from} → ${op.path}`);
      case "copy":
        return c.cyan(`= ${op.from} → ${op.path}`);
      case "test":
        return c.dim(`? ${op.path} == ${show(op.value)}`);
      default:
        return `${op.op} ${op.path} ${show(op.value)}`;
    }
  });
}

function show(v: unknown, max = 120): string {
  const s = v === undefined ? "" : JSON.stringify(v);
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

/**
 * Finds the operation list in a diff response: a bare array or `{patch|ops|diff|operations: [...]}`.
 */
export function patchOf(body: unknown): PatchOp[] | null {
  if (Array.isArray(body)) return body;
  if (body && typeof body === "object") {
    for (const k of ["patch", "ops", "diff", "operations"]) {
      const v = (body as Record<string, unknown>)[k];
      if (Array.isArray(v)) return v as PatchOp[];
    }
  }
  return null;
}

/**
 * Looks up an RFC 6901 JSON pointer in a document.
 */
export function resolvePointer(doc: unknown, pointer: string): { found: boolean; value?: unknown } {
  if (pointer === "") return { found: true, value: doc };
  if (!pointer.startsWith("/")) return { found: false };
  let cur: unknown = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (cur === null || typeof cur !== "object" || !Object.prototype.hasOwnProperty.call(cur, key)) return { found: false };
    cur = (cur as Record<string, unknown>)[key];
  }
  return { found: true, value: cur };
}
