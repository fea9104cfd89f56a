import { Injectable } from '@nestjs/common';

/** OWNER: search and lists work. */
@Injectable()
export class LeadListService {}
