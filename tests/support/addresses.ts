// Shipping addresses the order tests share: Illinois (where the checkout suites set a tax rate).
export const IL_ADDRESS = {
  first_name: 'Ada',
  last_name: 'Buyer',
  line1: '1 Main St',
  city: 'Springfield',
  state: 'IL',
  postal_code: '62701',
  country: 'US',
}
