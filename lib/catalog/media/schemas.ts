import { z } from 'zod'
import { Uuid } from '../../http/validation.js'
import { KNOWN_MEDIA_TYPES } from '../../platform/env.js'
import { ProductParams } from '../schemas.js'
import { MediaItemSchema } from '../view.js'
import { MEDIA_PROVIDERS } from './items.js'

// Bodies and answers of the media endpoints (POST .../media/uploads, POST .../media, DELETE .../media/{id}).

export const UploadBody = z.strictObject({
  content_type: z
    .string()
    .trim()
    .toLowerCase()
    .max(100)
    .describe(`The file's media type; one of MEDIA_ALLOWED_TYPES (at most ${KNOWN_MEDIA_TYPES.join(', ')})`),
  size: z
    .number()
    .int()
    .min(1)
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .describe('Bytes, when known: a file over the limit is refused now instead of after the upload'),
})
export type UploadBody = z.output<typeof UploadBody>

const UploadRequestSchema = z.object({
  method: z.enum(['POST', 'PUT']),
  url: z.string().describe("The provider's upload endpoint: send the file there, not to this API"),
  fields: z
    .record(z.string(), z.string())
    .describe('Cloudinary: form fields to send with the file (multipart/form-data), signature included'),
  file_field: z.string().nullable().describe('The form field of the file; null when the body is the file'),
  headers: z.record(z.string(), z.string()).describe('Vercel Blob: headers of the PUT, the token included'),
})

export const UploadTicketSchema = z.object({
  provider: z.enum(MEDIA_PROVIDERS),
  kind: z.enum(['image', 'video']),
  provider_id: z.string().describe('Where the file will be: send it back to POST .../media to attach it'),
  content_type: z.string(),
  max_bytes: z.number().int().describe('Largest file accepted for this kind (MEDIA_MAX_*_BYTES)'),
  allowed_types: z.array(z.string()),
  expires_at: z.string().describe('Upload before this time'),
  upload: UploadRequestSchema,
  client_token: z
    .string()
    .optional()
    .describe('Vercel Blob: for put(provider_id, file, { access: "public", token }) of @vercel/blob/client'),
})
export type UploadTicketView = z.infer<typeof UploadTicketSchema>

export const AttachBody = z
  .strictObject({
    provider_id: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .optional()
      .describe('The provider_id of the upload ticket (Cloudinary public_id, Blob pathname)'),
    url: z
      .string()
      .trim()
      .max(2000)
      .optional()
      .describe("Or the file's URL as the provider answered the upload (secure_url, Blob url)"),
    variant_id: Uuid.optional().describe('Attach to this variant of the product instead of the product'),
    alt: z.string().trim().max(500).optional(),
    position: z.number().int().min(0).max(10_000).optional(),
  })
  .refine((b) => (b.provider_id === undefined) !== (b.url === undefined), {
    message: 'Give either provider_id or url.',
    path: ['provider_id'],
  })
export type AttachBody = z.output<typeof AttachBody>

export const AttachedMediaSchema = MediaItemSchema.extend({
  id: z.string(),
  provider: z.enum(MEDIA_PROVIDERS),
  provider_id: z.string(),
  content_type: z.string(),
  bytes: z.number().int(),
  kind: z.enum(['image', 'video']).describe('Which list it joined: images or videos'),
  variant_id: z.string().nullable(),
})
export type AttachedMediaView = z.infer<typeof AttachedMediaSchema>

export const MediaParams = ProductParams.extend({
  media_id: z.string().min(1).max(200).describe('The `id` of an uploaded image or video'),
})
