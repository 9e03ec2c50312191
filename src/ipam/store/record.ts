// What an allocation file holds: the key, and the attachment that made it (GC matches on
// containerId + ifname, because with `id` set the key alone names no container).
export interface AllocationRecord {
  key: string;
  containerId: string;
  ifname: string;
  network: string;
  subnet: string;
  allocatedAt: string;
}

export interface Attachment {
  containerId: string;
  ifname: string;
}

// One line of JSON: `cat` on an allocation shows who holds it.
export const encodeRecord = (record: AllocationRecord): string => `${JSON.stringify({ v: 1, ...record })}\n`;

export const decodeRecord = (text: string): AllocationRecord | undefined => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = value as Partial<AllocationRecord> | null;
  if (!r || typeof r.key !== 'string' || typeof r.containerId !== 'string' || typeof r.ifname !== 'string')
    return undefined;
  return {
    key: r.key,
    containerId: r.containerId,
    ifname: r.ifname,
    network: String(r.network ?? ''),
    subnet: String(r.subnet ?? ''),
    allocatedAt: String(r.allocatedAt ?? ''),
  };
};

export const attachmentId = (a: Attachment): string => `${a.containerId}\u0000${a.ifname}`;
