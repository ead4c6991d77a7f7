# prod -> DR rewrites, applied line by line as GNU sed -E would.
s/us-east-1/${REGION}/g
s/\bprod\b/dr/g
s/(https?:\/\/)api\./\1api-dr./
/^debug=/d
