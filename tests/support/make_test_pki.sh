#!/bin/sh
# Creates a throwaway test PKI in DIR (for tests and the TLS demo only; never commit the output):
#   ca.pem, ca.key                 the session CA
#   p0, p1, dealer (.pem, .key)    role certificates signed by it, named by CN and subjectAltName DNS
#   rogue_ca.pem, rogue_<role>.*   another CA and certificates of the same names signed by it
# EC P-256 keys, valid for 2 days. Usage: sh make_test_pki.sh DIR
set -eu
dir="$1"
mkdir -p "$dir"
cd "$dir"
ca() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$1" -days 2 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -out "$1.pem"
}
leaf() {  # leaf CA FILE NAME
  openssl ecparam -name prime256v1 -genkey -noout -out "$2.key"
  openssl req -new -key "$2.key" -subj "/CN=$3" -out "$2.csr"
  printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" > "$2.ext"
  openssl x509 -req -in "$2.csr" -CA "$1.pem" -CAkey "$1.key" -CAcreateserial -days 2 -extfile "$2.ext" -out "$2.pem"
  rm -f "$2.csr" "$2.ext"
}
ca ca
ca rogue_ca
for n in p0 p1 dealer; do
  leaf ca "$n" "$n"
  leaf rogue_ca "rogue_$n" "$n"
done
chmod 600 ./*.key
