/** Every OFREP value type (boolean, string, integer, float, object) as a top-level key of a namespace's values. */
export const OFREP_TYPED_VALUES = {
  on: true,
  title: "hello",
  limit: 42,
  ratio: 0.25,
  obj: { a: 1, nested: { b: [1, 2] } },
} as const;
