/**
 * IPv4 CIDR arithmetic for NetworkPolicy ipBlocks: the program excepts the cloud metadata address from every
 * block that contains it, and the semantics suite decides which addresses a block admits.
 */

/** The cloud metadata endpoint (AWS, GCP, Azure): node credentials for whoever reaches it; never an egress target. */
export const METADATA_ADDRESS = '169.254.169.254';

const toNumber = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);

function range(cidr: string): [number, number] {
  const [ip = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(toNumber(ip) / size) * size;
  return [start, start + size - 1];
}

export function cidrContains(cidr: string, ip: string): boolean {
  const [start, end] = range(cidr);
  const n = toNumber(ip);
  return n >= start && n <= end;
}

/** Whether every address of `inner` is in `outer` (Kubernetes requires this of an ipBlock's `except`). */
export function cidrWithin(inner: string, outer: string): boolean {
  const [a, b] = range(inner);
  const [c, d] = range(outer);
  return a >= c && b <= d;
}

/** An ipBlock's admission of an address: inside the CIDR and outside every exception. */
export const ipBlockAdmits = (block: { cidr: string; except?: string[] }, ip: string) =>
  cidrContains(block.cidr, ip) && !(block.except ?? []).some((e) => cidrContains(e, ip));

/** An address of the block that it admits (for the reachability matrix): the first one past the network address. */
export function sampleAddress(cidr: string): string {
  const [start, end] = range(cidr);
  const n = start === end ? start : start + 1;
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}
