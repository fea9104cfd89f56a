export {
  API_KEY_SCOPES,
  MEMBER_ROLES,
  PERMISSIONS,
  ROLE_PERMISSIONS,
  roleAllows,
  type ApiKeyScope,
  type MemberRole,
  type Permission,
  type Role,
} from './permissions.js';
