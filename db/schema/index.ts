export * from './catalog.js'
export * from './orders.js'
export * from './platform.js'
export * from './users.js'
