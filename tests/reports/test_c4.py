"""C4 views of the data map: the context and container levels drawn from the catalog."""

from conftest import copy_project, dfg_json


def test_c4_views_of_the_example(tmp_path):
    manifest = copy_project(tmp_path / "project")
    code, context, err = dfg_json("map", "--view", "c4-context", "--out", str(tmp_path / "out"), project=manifest)
    assert code == 0, err
    diagram = context["mermaid"]
    assert diagram.startswith("C4Context")
    assert 'Person(subject_customer, "customer", "data subject")' in diagram
    assert 'System(deep_water, "deep_water"' in diagram
    # Processors outside the platform, with their agreements; flows labelled with what they carry.
    assert 'System_Ext(proc_care_partner, "care_partner", "processor in eu-west-1; DPA, BAA;' in diagram
    assert ('Rel(deep_water, proc_care_partner, "sends", "user.demographic.date_of_birth, user.health_and_medical, user.name, '
            'user.unique_id")') in diagram  # (the notes name the patient and their birth date)
    assert (tmp_path / "out" / "c4_context.md").read_text().startswith("# c4-context")

    code, containers, err = dfg_json("map", "--view", "c4-container", "--out", str(tmp_path / "out"), project=manifest)
    assert code == 0, err
    diagram = containers["mermaid"]
    # Regions are the trust boundaries: the US bucket sits in its own, and only aggregates reach it.
    assert 'Boundary(r_us_east_1, "US · us-east-1", "region") {' in diagram
    assert 'ContainerDb(s3_deepwater_bi_us, "S3 bucket deepwater-bi-us"' in diagram
    assert 'Rel(warehouse, s3_deepwater_bi_us, "feeds", "no personal data")' in diagram
    assert 'Rel(s3_deepwater_raw_eu, warehouse, "feeds", "' in diagram
    assert 'Rel(warehouse, proc_mailer, "sends", "user.contact.email, user.unique_id")' in diagram


def test_the_container_view_draws_zones_and_protocols_and_services_show_their_components(tmp_path):
    manifest = copy_project(tmp_path / "project")
    code, containers, err = dfg_json("map", "--view", "c4-container", "--out", str(tmp_path / "out"), project=manifest)
    assert code == 0, err
    diagram = containers["mermaid"]
    assert 'Boundary(z_public, "public zone", "trust zone") {' in diagram
    assert 'System_Ext(sys_psp_webhooks, "psp_webhooks", "webhook_source", "team:commerce")' in diagram
    assert 'Rel(sys_api_gateway, sys_order_service, "place_order (restricted)", "mtls")' in diagram
    assert 'Rel(sys_order_service, proc_payments_psp, "charge_card (restricted)", "https")' in diagram  # the drawn processor
    assert 'Rel(warehouse, sys_warehouse_backups, "nightly_backup (restricted)", "s3")' in diagram
    code, components, err = dfg_json("map", "--view", "c4-component", "--out", str(tmp_path / "out"), project=manifest)
    assert code == 0, err
    assert 'Container_Boundary(c_order_service, "order_service") {' in components["mermaid"]
    assert 'Component(c_order_service_psp_webhook_handler, "psp_webhook_handler", "component")' in components["mermaid"]
