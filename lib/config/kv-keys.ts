/** Workers KV layout of the config product (docs/STORAGE.md, "KV"). */

/** Immutable version blob `{namespace, version, hash, values}`. */
export const versionKey = (namespace: string, version: number): string => `cfg:v:${namespace}:${version}`;

/** The namespace's release state `{namespace, generation, stable, regions, updated_at}`. */
export const releaseKey = (namespace: string): string => `cfg:r:${namespace}`;
