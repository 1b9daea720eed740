import { Hono } from "hono";
import type { AppEnv } from "./context";

/** Every surface is a Hono sub-app with the same bindings and variables. */
export function newSubApp(): Hono<AppEnv> {
  return new Hono<AppEnv>();
}
