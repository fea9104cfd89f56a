export {
  createTenantInput,
  slugify,
  TenantsService,
  type CreateTenantInput,
  type TenantAccess,
  type TenantView,
} from './tenants.service.js';
export { TenantsModule } from './tenants.module.js';
