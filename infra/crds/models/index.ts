export * as postgresqlCnpgIo from "./postgresql.cnpg.io/index";
export * as barmancloudCnpgIo from "./barmancloud.cnpg.io/index";
