<?php
// A slow page (bounded to 30 s): what the lab's saturation faults hold PHP-FPM's workers with.
$ms = min(30000, max(0, intval($_GET['ms'] ?? '1000')));
usleep($ms * 1000);
header('X-Served-By: ' . gethostname());
header('Content-Type: text/plain');
echo 'slow PHP answer on ' . gethostname() . "\n";
