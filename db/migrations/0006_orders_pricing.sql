CREATE TABLE "discount_redemptions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"discount_id" uuid NOT NULL,
	"order_id" uuid NOT NULL,
	"user_id" uuid,
	"email" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "discounts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"code" text NOT NULL,
	"type" text NOT NULL,
	"percent_bps" integer,
	"amount_cents" bigint,
	"min_subtotal_cents" bigint,
	"starts_at" timestamp with time zone,
	"ends_at" timestamp with time zone,
	"usage_limit" integer,
	"usage_limit_per_customer" integer,
	"times_used" integer DEFAULT 0 NOT NULL,
	"is_active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "discounts_type_check" CHECK ("discounts"."type" in ('percentage', 'fixed_amount')),
	CONSTRAINT "discounts_value_check" CHECK (("discounts"."type" = 'percentage' and "discounts"."percent_bps" between 0 and 10000 and "discounts"."amount_cents" is null) or ("discounts"."type" = 'fixed_amount' and "discounts"."amount_cents" >= 0 and "discounts"."percent_bps" is null)),
	CONSTRAINT "discounts_usage_check" CHECK ("discounts"."times_used" >= 0 and ("discounts"."usage_limit" is null or "discounts"."times_used" <= "discounts"."usage_limit") and ("discounts"."usage_limit_per_customer" is null or "discounts"."usage_limit_per_customer" > 0))
);
--> statement-breakpoint
CREATE TABLE "order_notes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"order_id" uuid NOT NULL,
	"author_id" uuid,
	"body" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "shipping_rates" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"method" text NOT NULL,
	"countries" text[] DEFAULT '{}'::text[] NOT NULL,
	"amount_cents" bigint NOT NULL,
	"free_above_cents" bigint,
	"min_days" integer,
	"max_days" integer,
	"is_active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "shipping_rates_amount_check" CHECK ("shipping_rates"."amount_cents" >= 0 and ("shipping_rates"."free_above_cents" is null or "shipping_rates"."free_above_cents" >= 0)),
	CONSTRAINT "shipping_rates_days_check" CHECK (("shipping_rates"."min_days" is null or "shipping_rates"."min_days" >= 0) and ("shipping_rates"."max_days" is null or "shipping_rates"."max_days" >= coalesce("shipping_rates"."min_days", 0)))
);
--> statement-breakpoint
CREATE TABLE "tax_rates" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"country" char(2) NOT NULL,
	"state" text,
	"rate_bps" integer NOT NULL,
	"applies_to_shipping" boolean DEFAULT false NOT NULL,
	"is_active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tax_rates_rate_bps_check" CHECK ("tax_rates"."rate_bps" between 0 and 10000),
	CONSTRAINT "tax_rates_country_check" CHECK ("tax_rates"."country" ~ '^[A-Z]{2}$')
);
--> statement-breakpoint
ALTER TABLE "order_items" DROP CONSTRAINT "order_items_money_total_check";--> statement-breakpoint
ALTER TABLE "orders" DROP CONSTRAINT "orders_money_total_check";--> statement-breakpoint
ALTER TABLE "order_items" ADD COLUMN "cancelled_quantity" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "order_items" ADD COLUMN "refunded_amount_cents" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "order_items" ADD COLUMN "taxes_included" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "shipping_tax_amount_cents" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "taxes_included" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "paid_amount_cents" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "refunded_amount_cents" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "discount_id" uuid;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "discount_code" text;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "client_ip" text;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "flags" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "shipping_amount_cents" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "discount_redemptions" ADD CONSTRAINT "discount_redemptions_discount_id_discounts_id_fk" FOREIGN KEY ("discount_id") REFERENCES "public"."discounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "discount_redemptions" ADD CONSTRAINT "discount_redemptions_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."orders"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "discount_redemptions" ADD CONSTRAINT "discount_redemptions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "order_notes" ADD CONSTRAINT "order_notes_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."orders"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "order_notes" ADD CONSTRAINT "order_notes_author_id_users_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "discount_redemptions_order_id_unique" ON "discount_redemptions" USING btree ("order_id");--> statement-breakpoint
CREATE INDEX "discount_redemptions_discount_user_idx" ON "discount_redemptions" USING btree ("discount_id","user_id");--> statement-breakpoint
CREATE INDEX "discount_redemptions_discount_email_idx" ON "discount_redemptions" USING btree ("discount_id","email");--> statement-breakpoint
CREATE UNIQUE INDEX "discounts_code_lower_unique" ON "discounts" USING btree (lower("code"));--> statement-breakpoint
CREATE INDEX "order_notes_order_id_created_at_idx" ON "order_notes" USING btree ("order_id","created_at");--> statement-breakpoint
CREATE INDEX "shipping_rates_method_idx" ON "shipping_rates" USING btree ("method");--> statement-breakpoint
CREATE UNIQUE INDEX "tax_rates_active_place_unique" ON "tax_rates" USING btree ("country",coalesce("state", '')) WHERE "tax_rates"."is_active";--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_discount_id_discounts_id_fk" FOREIGN KEY ("discount_id") REFERENCES "public"."discounts"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "orders_pending_client_ip_idx" ON "orders" USING btree ("client_ip") WHERE "orders"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "orders_pending_created_at_idx" ON "orders" USING btree ("created_at") WHERE "orders"."status" = 'pending';--> statement-breakpoint
ALTER TABLE "order_items" ADD CONSTRAINT "order_items_fulfilled_cancelled_check" CHECK ("order_items"."cancelled_quantity" >= 0 and "order_items"."fulfilled_quantity" + "order_items"."cancelled_quantity" <= "order_items"."quantity");--> statement-breakpoint
ALTER TABLE "order_items" ADD CONSTRAINT "order_items_refunded_amount_check" CHECK ("order_items"."refunded_amount_cents" between 0 and "order_items"."total_amount_cents");--> statement-breakpoint
ALTER TABLE "order_items" ADD CONSTRAINT "order_items_money_total_check" CHECK ("order_items"."subtotal_cents" - "order_items"."discount_amount_cents" + (case when "order_items"."taxes_included" then 0 else "order_items"."tax_amount_cents" end) = "order_items"."total_amount_cents");--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_refunded_amount_check" CHECK ("orders"."paid_amount_cents" >= 0 and "orders"."refunded_amount_cents" >= 0 and "orders"."refunded_amount_cents" <= "orders"."paid_amount_cents");--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_shipping_tax_check" CHECK ("orders"."shipping_tax_amount_cents" between 0 and "orders"."tax_amount_cents");--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_money_total_check" CHECK ("orders"."subtotal_cents" - "orders"."discount_amount_cents" + "orders"."shipping_amount_cents" + (case when "orders"."taxes_included" then 0 else "orders"."tax_amount_cents" end) = "orders"."total_amount_cents");