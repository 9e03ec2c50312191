import { CniError, ErrorCode, showValue } from './errors.js';

export interface ValidAttachment {
  containerId: string;
  ifname: string;
}

// The GC request's list of attachments to keep (SPEC 1.1.0). The spec tag named the key
// `cni.dev/attachments`, later text `cni.dev/valid-attachments`; libcni sends both. An absent key
// means "nothing is valid", as does an empty list (SPEC.md, GC: "valid attachments").
export const validAttachments = (config: Record<string, unknown>): ValidAttachment[] => {
  const raw = config['cni.dev/valid-attachments'] ?? config['cni.dev/attachments'] ?? [];
  if (!Array.isArray(raw)) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid cni.dev/valid-attachments ${showValue(raw)}: must be an array`,
    );
  }
  return raw.map((entry: unknown, index) => {
    const { containerID, ifname } = (entry ?? {}) as { containerID?: unknown; ifname?: unknown };
    if (typeof containerID !== 'string' || typeof ifname !== 'string') {
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        `invalid cni.dev/valid-attachments.${index} ${showValue(entry)}: needs string containerID and ifname`,
      );
    }
    return { containerId: containerID, ifname };
  });
};

// A set keyed the same way everywhere, for "is this attachment still valid?".
export const attachmentKey = (containerId: string, ifname: string): string => `${containerId}/${ifname}`;
