/** The routing module's public surface. */
export {
  RouteTableHolder,
  type DefaultRoute,
  type ExplainedMember,
  type ExplainedRule,
  type MatchKind,
  type RouteExplanation,
  type RouteKey,
  type RouteMatch,
  type RouteRule,
  type RouteTable,
} from './route-table.js';
export { HashRouteTable, ruleIdentity, type ChangeOptions, type RouteTableOptions } from './hash-route-table.js';
export { buildRouteTable, buildRouteTableAsync, type AsyncBuildOptions } from './build-route-table.js';
export {
  compileTarget,
  CompiledTemplate,
  MAX_TARGET_LENGTH,
  PLACEHOLDERS,
  TemplateError,
  TemplateRejects,
  type Placeholder,
  type TemplateReject,
} from './target-template.js';
export { MAX_POOL_MEMBERS, PoolTarget } from './route-target.js';
export {
  UpstreamHealth,
  type DownReason,
  type UpstreamHealthOptions,
  type UpstreamHealthView,
  type UpstreamStatus,
} from './upstream-health.js';
export { CLIENT_ID_CHARS, CLIENT_ID_PATTERN, isValidClientId, MAX_CLIENT_ID_LENGTH } from './client-id.js';
