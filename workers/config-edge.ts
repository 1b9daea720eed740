import { newSubApp } from "./lib/app-factory";

export const configEdgeApp = newSubApp();
