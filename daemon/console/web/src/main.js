// main.js: the bundle's entry point.
import { start } from './app.js';

start();
