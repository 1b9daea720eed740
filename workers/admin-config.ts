import { newSubApp } from "./lib/app-factory";

export const adminConfigApp = newSubApp();
