// The audit store lives in lib/ (the coordinator uses it too); this path is kept for the Worker routes.
export * from "../../lib/audit-store";
