import { Injectable } from '@nestjs/common';
import type { CustomFieldDefinition } from './custom-fields.js';

/** Custom field definitions of the tenant. OWNER: tags/custom fields/assignment work. */
@Injectable()
export class CustomFieldsService {
  /** Every definition of the tenant, by position. Joins an open transaction. */
  definitions(): Promise<CustomFieldDefinition[]> {
    throw new Error('not implemented');
  }
}
