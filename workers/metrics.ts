import { newSubApp } from "./lib/app-factory";

export const metricsApp = newSubApp();
