# A memory limit OOM-kills a hog: exit 137 and memory.events oom_kill goes up.
# timeout: 120
cg=$(cg_make hog)
echo 32M > "$cg/memory.max" || die "set memory.max"
echo 0 > "$cg/memory.swap.max" || die "set memory.swap.max"
before=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")
cg_run "$cg" "$HELPER" memhog 256 --step 8 > "$BERTH_SCRATCH/hog.out" 2>&1
st=$?
after=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")
say "memhog status $st; last progress: $(tail -n 1 "$BERTH_SCRATCH/hog.out")"
say "memory.events: $(tr '\n' ' ' < "$cg/memory.events"); oom_kill $before -> $after"
[ "$st" = 137 ] || die "memhog was not SIGKILLed (status $st)"
[ "$after" -gt "$before" ] || die "oom_kill did not go up"
