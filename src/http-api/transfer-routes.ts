import type { ApiContext, ApiScope } from './api-routes.js';

export function registerTransferRoutes(_scope: ApiScope, _context: ApiContext): void {
  // import and export: next commit
}
