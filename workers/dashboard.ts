import { newSubApp } from "./lib/app-factory";

export const dashboardApp = newSubApp();
