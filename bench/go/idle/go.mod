module numago/bench/idle

go 1.19
