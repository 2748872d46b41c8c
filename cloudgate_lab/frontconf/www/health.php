<?php
// What haproxy's layer-7 check and the suite read on each front VM: PHP itself answered.
header('X-Served-By: ' . gethostname());
header('Content-Type: text/plain');
echo 'ok php ' . gethostname() . "\n";
