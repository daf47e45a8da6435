-- Reserved: this number belongs to a migration on another branch.
SELECT 1;
