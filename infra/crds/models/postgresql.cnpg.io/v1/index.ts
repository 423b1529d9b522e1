export * from "./Cluster";
export * from "./ScheduledBackup";
