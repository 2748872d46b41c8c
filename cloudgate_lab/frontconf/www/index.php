<?php
// The lab's PHP front page: says who answered, in the body and in X-Served-By (the probe counts it).
// a fault may make this VM slow (cloudgate_lab.front.faults: slow-app), bounded to 30 s
$delay = min(30000, max(0, intval(getenv('CG_DELAY_MS') ?: '0')));
if ($delay > 0) {
    usleep($delay * 1000);
}
header('X-Served-By: ' . gethostname());
header('Content-Type: text/plain');
echo 'hello from PHP on ' . gethostname() . "\n";
