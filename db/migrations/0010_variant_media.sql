ALTER TABLE "product_variants" ADD COLUMN "images" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "product_variants" ADD COLUMN "videos" jsonb DEFAULT '[]'::jsonb NOT NULL;