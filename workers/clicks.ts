import { newSubApp } from "./lib/app-factory";

export const clicksApp = newSubApp();
