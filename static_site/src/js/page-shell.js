// Pages that later work fills (ideas, priorities, draft proposals, progress):
// for now only their static, translated text.

import { startPage } from "./layout.js";

startPage(() => {});
