/**
 * NANP (US/CA) geographic area code → IANA zone(s). Compiled from the NANPA area-code assignments by state /
 * province and the zones those states use. An area code that straddles a zone line lists every zone it
 * touches (e.g. 850 Florida panhandle: Eastern and Central); quiet hours then hold a message until it is
 * allowed in all of them. Non-geographic codes (toll-free 8XX, 5XX, 600, 700, 900) are deliberately absent:
 * the caller falls back to every zone of the country. Small exceptions not modelled (one zone used for the
 * whole code): West Wendover NV (775), Malheur County OR (458/541 listed mixed), Aleutians west of 169°W (907),
 * Lloydminster and East Kootenay (BC/AB lines use the listed zones).
 */

const ET_US = 'America/New_York';
const CT_US = 'America/Chicago';
const MT_US = 'America/Denver';
const AZ = 'America/Phoenix';
const PT_US = 'America/Los_Angeles';

const GROUPS: [zones: string[], codes: string][] = [
  // --- United States, Eastern
  [[ET_US], '203 475 860 959 302 202 771 239 305 321 324 352 386 407 561 645 656 689 727 754 772 786 813 863 904 941 954 ' +
    '229 404 470 478 678 706 762 770 912 943 317 463 574 765 260 502 859 606 207 227 240 301 410 443 667 ' +
    '339 351 413 508 617 774 781 857 978 231 248 269 313 517 586 616 679 734 810 947 989 603 ' +
    '201 551 609 640 732 848 856 862 908 973 212 315 332 347 363 516 518 585 607 631 646 680 716 718 838 845 914 917 929 934 ' +
    '252 336 472 704 743 828 910 919 980 984 216 220 234 326 330 380 419 436 440 513 567 614 740 937 ' +
    '215 223 267 272 412 445 484 570 582 610 717 724 814 835 878 401 803 839 843 854 864 423 865 802 ' +
    '276 434 540 571 686 703 757 804 826 948 304 681'],
  // --- United States, straddling Eastern / Central
  [[ET_US, CT_US], '850 448 812 930 270 364 906'],
  // --- United States, Central
  [[CT_US], '205 251 256 334 659 938 327 479 501 870 217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 872 219 ' +
    '319 515 563 641 712 316 913 225 318 337 457 504 985 218 320 507 612 651 763 924 952 228 601 662 769 ' +
    '235 314 417 557 573 636 660 816 975 402 531 405 539 572 580 918 615 629 731 901 931 ' +
    '210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903 936 940 945 956 972 979 ' +
    '262 274 353 414 534 608 715 920'],
  // --- United States, straddling Central / Mountain
  [[CT_US, MT_US], '620 785 308 701 605'],
  // --- United States, Mountain / Arizona / Pacific / Alaska / Hawaii
  [[MT_US], '303 719 720 970 983 406 505 575 385 435 801 307 915'],
  [[MT_US, PT_US], '208 986 458 541'],
  [[AZ], '480 520 602 623 928'],
  [[PT_US], '209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 657 661 669 707 714 747 760 ' +
    '805 818 820 831 840 858 909 916 925 949 951 702 725 775 503 971 206 253 360 425 509 564'],
  [['America/Anchorage'], '907'],
  [['Pacific/Honolulu'], '808'],
  // --- Canada
  [['America/Toronto'], '226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 905 942 ' +
    '263 354 367 418 438 450 468 514 579 581 819 873'],
  [['America/Toronto', 'America/Winnipeg'], '807'],
  [['America/Winnipeg'], '204 431 584'],
  [['America/Regina'], '306 474 639'],
  [['America/Edmonton'], '368 403 587 780 825'],
  [['America/Vancouver'], '236 604 672 778'],
  [['America/Vancouver', 'America/Edmonton'], '250'],
  [['America/Halifax'], '782 902 428 506'],
  [['America/St_Johns', 'America/Halifax'], '709 879'],
  [['America/Whitehorse', 'America/Edmonton', 'America/Winnipeg', 'America/Toronto'], '867'],
];

/** Area code (3 digits) → zones. */
export const NANP_AREA_ZONES: ReadonlyMap<string, readonly string[]> = (() => {
  const m = new Map<string, readonly string[]>();
  for (const [zones, codes] of GROUPS) {
    for (const code of codes.split(/\s+/)) {
      if (code === '') continue;
      if (m.has(code)) throw new Error(`nanp-zones: area code ${code} listed twice`);
      m.set(code, zones);
    }
  }
  return m;
})();
