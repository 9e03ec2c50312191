// tasknet's only door to kernel networking: typed functions over iproute2's `ip`.
// Convention: the object acted on first (name, spec or filter), the netns (`NetnsRef`) last;
// link reads take a trailing `{ details }`. Every failure is an IpError with a `kind`.
export { IpError, isExists, isNoNetns, isNotFound, classifyStderr, type IpErrorKind } from './errors.js';
export {
  parseCidr,
  parseIp,
  validateAlias,
  validateIfName,
  validateMac,
  validateMtu,
  validateNetnsName,
  validateNetnsPath,
  validateRouteTable,
  validateSysctlKey,
  validateToken,
  validateUint,
  type Cidr,
  type IpFamily,
} from './validate.js';
export {
  currentNetns,
  ipCalls,
  onIpCall,
  NETNS_RUN_DIR,
  type ExecOptions,
  type IpCallHook,
  type ExecResult,
  type NetnsRef,
} from './run.js';
export {
  createBridge,
  createVeth,
  deleteLink,
  findLinkByMac,
  getLink,
  listLinks,
  setLink,
  setLinkAlias,
  type BridgeSpec,
  type Link,
  type LinkChanges,
  type LinkReadOptions,
  type VethSpec,
} from './link.js';
export {
  addAddress,
  getLinkWithAddresses,
  parseLinkWithAddresses,
  deleteAddress,
  flushAddresses,
  listAddresses,
  type AddAddressOptions,
  type Address,
  type AddressFilter,
} from './address.js';
export {
  addRoute,
  deleteRoute,
  listRoutes,
  replaceRoute,
  type Route,
  type RouteFilter,
  type RouteSpec,
  type RouteType,
} from './route.js';
export {
  deleteNeighbour,
  listNeighbours,
  replacePermanentNeighbour,
  type Neighbour,
  type NeighbourFilter,
  type PermanentNeighbour,
} from './neighbour.js';
export { replaceStaticFdb, type StaticFdbEntry } from './fdb.js';
export { attachNetns, createNetns, deleteNetns, execInNetns, isNetnsFile, listNetns, netnsExists } from './netns.js';
export { readSysctl, writeSysctl } from './sysctl.js';
export { batch, IpBatch } from './batch.js';
