ALTER TABLE "fulfillments" ADD COLUMN "label_voided_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "kind" text DEFAULT 'refund' NOT NULL;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "attempts" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "attempted_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "stock_returned_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "refunds_pending_attempted_at_idx" ON "refunds" USING btree ("attempted_at") WHERE "refunds"."status" = 'pending';--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_kind_check" CHECK ("refunds"."kind" in ('refund', 'unexpected_payment', 'dispute_lost'));--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_attempts_check" CHECK ("refunds"."attempts" >= 1);--> statement-breakpoint
-- the refunds already made: their one attempt was when they were created; succeeded restocking refunds
-- returned their stock when they settled
UPDATE "refunds" SET "attempted_at" = "created_at";--> statement-breakpoint
UPDATE "refunds" SET "stock_returned_at" = "updated_at" WHERE "restock" AND "status" = 'succeeded';--> statement-breakpoint
-- dispute flags stored the amount in minor units (7497); every other amount of the API is major units
-- (74.97): divide by 10^exponent of the order's currency (as Intl reports it, like lib/platform/money.ts)
UPDATE "orders" o SET "flags" = (
  SELECT jsonb_agg(
    CASE WHEN x.f->>'code' = 'dispute' AND jsonb_typeof(x.f->'amount') = 'number'
      THEN jsonb_set(x.f, '{amount}', to_jsonb(round((x.f->>'amount')::numeric / power(10::numeric, e.exp), e.exp)))
      ELSE x.f END
    ORDER BY x.ord)
  FROM jsonb_array_elements(o."flags") WITH ORDINALITY AS x(f, ord),
    (SELECT CASE
      WHEN o."currency" IN ('AFN','ALL','BIF','CLP','COP','DJF','GNF','HUF','IDR','IQD','IRR','ISK','JPY','KMF',
        'KPW','KRW','LAK','LBP','MGA','MMK','PKR','PYG','RWF','SLL','SOS','SYP','UGX','VND','VUV','XAF','XOF',
        'XPF','YER') THEN 0
      WHEN o."currency" IN ('BHD','JOD','KWD','LYD','OMR','TND') THEN 3
      ELSE 2 END AS exp) e)
WHERE jsonb_typeof(o."flags") = 'array'
  AND EXISTS (SELECT 1 FROM jsonb_array_elements(o."flags") f WHERE f->>'code' = 'dispute');
