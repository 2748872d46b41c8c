<?php
// The lab's PHP front page: says who answered, in the body and in X-Served-By (the probe counts it).
header('X-Served-By: ' . gethostname());
header('Content-Type: text/plain');
echo 'hello from PHP on ' . gethostname() . "\n";
