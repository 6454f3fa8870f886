#!/usr/bin/env bash
# tools/cuda_emu/gen.sh IN.cu OUT.cc: the host C++ copy of a CUDA source for
# the emulator (see README.md). Every kernel launch
#   Kernel<T><<<grid, block[, 0[, stream]]>>>(args...)
# becomes Launch(Kernel<T>, grid, block, args...) (shim.h); the rest is
# copied unchanged, after a #line that points compiler messages at IN.cu.
# Fails on a launch with dynamic shared memory (not emulated) and on any
# `<<<` left over.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 IN.cu OUT.cc" >&2
  exit 2
fi
in=$1
out=$2
tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT
perl -e '
  use strict;
  use warnings;
  my ($in) = @ARGV;
  open(my $fh, "<", $in) or die "cannot read $in: $!\n";
  local $/;
  my $src = <$fh>;
  # The launch configuration split at commas outside brackets.
  sub split_top {
    my ($s) = @_;
    my @parts;
    my $depth = 0;
    my $cur = "";
    for my $c (split //, $s) {
      $depth++ if $c =~ /[([{]/;
      $depth-- if $c =~ /[)\]}]/;
      if ($c eq "," && $depth == 0) { push @parts, $cur; $cur = ""; next; }
      $cur .= $c;
    }
    push @parts, $cur;
    return @parts;
  }
  my $out = "";
  my $n = 0;
  while ($src =~ /\G(.*?)([A-Za-z_][\w:]*(?:<[^<>;(){}]*>)?)(\s*)<<<(.*?)>>>(\s*)\(/gcs) {
    my ($pre, $kernel, $ws1, $cfg, $ws2) = ($1, $2, $3, $4, $5);
    my @a = split_top($cfg);
    die "$in: launch of $kernel: expected <<<grid, block[, smem[, stream]]>>>\n"
      if @a < 2 || @a > 4;
    if (@a >= 3 && $a[2] !~ /^\s*0\s*$/) {
      die "$in: launch of $kernel: dynamic shared memory is not emulated\n";
    }
    # Keep the line breaks of the dropped parts (line numbers stay right).
    my $breaks = join("", map { join("", /(\\?\n)/g) } ($ws1, @a[2 .. $#a], $ws2));
    my $grid = $a[0] =~ /^\s/ ? $a[0] : " $a[0]";
    $out .= "${pre}Launch($kernel,$grid,$a[1],$breaks ";
    $n++;
  }
  $out .= substr($src, pos($src) // 0);
  print "#line 1 \"$in\"\n$out";
  print STDERR "gen: $in: $n launches\n" if $ENV{CUDA_EMU_VERBOSE};
' "$in" >"$tmp"
if grep -n '<<<' "$tmp" >&2; then
  echo "gen: $in: a kernel launch that gen.sh does not understand (above)" >&2
  exit 1
fi
mv "$tmp" "$out"
