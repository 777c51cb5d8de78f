-- `repo add` checks the names it adds against the repository (same name, version and
-- architecture with other content is refused): look packages up by name instead of
-- reading every member.
CREATE INDEX apt_package_name ON apt_package (name, version, architecture);
